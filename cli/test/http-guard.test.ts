import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { allowedHosts, requestRefusal, tokenProblem } from "../src/mcp/http-guard.js";

describe("the MCP HTTP guard", () => {
  it("takes random tokens and refuses short or predictable ones", () => {
    // Many draws: a random token must never be refused by chance (24 base64 characters once were).
    for (let i = 0; i < 2_000; i++) {
      expect(tokenProblem(randomBytes(24).toString("hex"))).toBeUndefined();
      expect(tokenProblem(randomBytes(18).toString("base64url"))).toBeUndefined();
      expect(tokenProblem(randomBytes(16).toString("hex"))).toBeUndefined();
    }
    expect(tokenProblem("a".repeat(40))).toMatch(/too predictable/);
    expect(tokenProblem("abababababababababababababab")).toMatch(/too predictable/);
    expect(tokenProblem("0123456789abcdef")).toMatch(/16 characters; give at least 24/);
  });

  it("knows this server's names: loopback ones on a loopback bind, any behind a wildcard bind", () => {
    expect(allowedHosts("127.0.0.1", 4180)).toEqual(["127.0.0.1:4180", "localhost:4180", "[::1]:4180"]);
    expect(allowedHosts("10.0.0.5", 4180)).toEqual(["10.0.0.5:4180"]);
    expect(allowedHosts("0.0.0.0", 4180)).toBeUndefined();
  });

  it("refuses another Host (DNS rebinding) and another site's Origin, and lets the server's own through", () => {
    const hosts = allowedHosts("127.0.0.1", 4180);
    expect(requestRefusal({ host: "127.0.0.1:4180" }, hosts)).toBeUndefined();
    expect(requestRefusal({ host: "localhost:4180", origin: "http://localhost:4180" }, hosts)).toBeUndefined();
    expect(requestRefusal({ host: "evil.example:4180" }, hosts)).toMatch(/DNS rebinding/);
    expect(requestRefusal({ host: "127.0.0.1:4180", origin: "https://evil.example" }, hosts)).toMatch(/Origin/);
    expect(requestRefusal({}, hosts)).toMatch(/no Host/);
    expect(requestRefusal({ host: "mcp.example.com", origin: "https://evil.example" }, undefined)).toMatch(/Origin/);
  });
});
