import { describe, expect, it } from "vitest";
import { redactFrame, toCapturedValue } from "../src/capture/captures.js";
import { cutRedacted, isSecretName, luhn, nameRedaction, REDACTED_NAMES, redactString } from "../src/capture/redaction.js";
import { redactArgv } from "../src/target/identity.js";
import { inContext, SECRET_CORPUS } from "./secret-corpus.js";

describe("redaction", () => {
  it("knows at least Datadog's 88 identifiers, and more", () => {
    expect(new Set(REDACTED_NAMES).size).toBeGreaterThanOrEqual(88 + 40);
  });

  it(`redacts every one of ${SECRET_CORPUS.length} secret shapes by the rule that applies, and keeps the text around them`, () => {
    expect(SECRET_CORPUS.length).toBeGreaterThanOrEqual(60);
    for (const s of SECRET_CORPUS) {
      if (s.by === "name" || s.by === "header") {
        expect(isSecretName(s.name), s.shape).toBe(true);
        continue;
      }
      if (s.by === "argv") {
        expect(redactArgv(["node", "app.js", s.name, inContext(s)]).join(" "), s.shape).not.toContain(s.secret);
        continue;
      }
      if (s.by === "long") {
        // As the target sends it: cut at 255 characters, with the redaction margin after the cut.
        const text = inContext(s);
        const published = toCapturedValue({ n: "line", t: "string", v: text, x: "length", o: text.length - 255, k: 255 });
        expect(published.value, s.shape).not.toContain(s.secret.slice(0, 255 - 241));
        expect(published.value, s.shape).toMatch(/^l{240} (password=)?\[redacted\]/);
        continue;
      }
      const text = inContext(s);
      const out = redactString(text);
      expect(out, s.shape).not.toContain(s.secret);
      expect(out, s.shape).toContain("[redacted]");
      if (text.startsWith("before ")) expect(out, s.shape).toMatch(/^before .*after$/);
    }
  });

  it("redacts a value that follows a secret name in a header list, and a name that is itself a secret", () => {
    const rawHeaders = toCapturedValue({ n: "rawHeaders", t: "Array", c: ["Host", "shop", "Authorization", "Token abc", "Accept", "*/*"].map((v, i) => ({ n: String(i), t: "string", v })) });
    expect(rawHeaders.children.map((c) => c.value)).toEqual(["Host", "shop", "Authorization", "[redacted]", "Accept", "*/*"]);
    const keyed = toCapturedValue({ n: "sessions", t: "Map", c: [{ n: "ghp_KeyKeyKeyKeyKeyKeyKeyKeyKeyKey123456", t: "number", v: "1" }] });
    expect(keyed.children[0]?.name).toBe("[redacted]");
  });

  it("never leaves half a marker where a long string is cut", () => {
    expect(cutRedacted("abc [redacted] tail", 8)).toBe("abc [redacted]");
    expect(cutRedacted("abc [redacted] tail", 4)).toBe("abc ");
    expect(cutRedacted("short", 255)).toBe("short");
  });

  it("leaves ordinary values and names alone", () => {
    for (const ok of ["order-1234", "2026-11-22T10:00:00.000Z", "1763805600000", "550e8400-e29b-41d4-a716-446655440000", "GET /api/orders?id=42", "renderInvoice", "https://example.com/path"]) {
      expect(redactString(ok)).toBe(ok);
    }
    for (const name of ["order", "total", "author", "items", "userId", "lines", "passenger", "compass", "className", "spinner", "bypassCache"]) expect(isSecretName(name), name).toBe(false);
    for (const ok of ["author: Ada", "max_tokens=256", '{"tokens": 1200}', "passengers=3", "ssn-like 123-45", "DE12 not an iban", "order 078-05-112"]) expect(redactString(ok), ok).toBe(ok);
  });

  it("checks card numbers with Luhn, and takes extra names from configuration", () => {
    expect(luhn("4111111111111111")).toBe(true);
    expect(luhn("4111111111111112")).toBe(false);
    expect(redactString("card 4111 1111 1111 1112 declined")).toBe("card 4111 1111 1111 1112 declined");
    expect(isSecretName("tenantKey")).toBe(false);
    expect(isSecretName("tenant_key", nameRedaction(["tenantKey"]))).toBe(true);
  });

  it("keeps a stack frame's location whole, and still checks the rest of it", () => {
    const frame = "renderInvoice (/srv/app-2024/node_modules/acme-invoicing-toolkit2/lib/render.js:12:3)";
    expect(redactString(frame)).not.toBe(frame); // a long path segment reads as a token to the general rule
    expect(redactFrame(frame)).toBe(frame);
    expect(redactFrame("async eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefgh (/app/x.js:1:1)")).toBe("async [redacted] (/app/x.js:1:1)");
    expect(redactFrame("Bearer abcDEF123456ghiJKL789")).toBe("[redacted]");
  });
});
