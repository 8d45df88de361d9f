import { describe, expect, it } from "vitest";
import { looksLikeNode } from "../src/inspector/activate.js";
import { assertLoopbackUrl, isLoopbackHost } from "../src/inspector/loopback.js";

describe("loopback guard", () => {
  it("accepts only loopback inspector URLs", () => {
    for (const url of ["ws://127.0.0.1:9229/abc", "ws://localhost:9229/abc", "ws://[::1]:9229/abc", "ws://127.1.2.3:1/x"]) {
      expect(() => assertLoopbackUrl(url)).not.toThrow();
    }
    for (const url of ["ws://10.0.0.5:9229/abc", "ws://0.0.0.0:9229/abc", "ws://example.com:9229/x", "ws://[::]:9229/x"]) {
      expect(() => assertLoopbackUrl(url)).toThrow(/not on loopback/);
    }
    expect(() => assertLoopbackUrl("not a url")).toThrow(/not a valid inspector URL/);
    expect(isLoopbackHost("127.0.0.1")).toBe(true);
    expect(isLoopbackHost("128.0.0.1")).toBe(false);
  });
});

describe("looksLikeNode", () => {
  it("knows node binaries by their executable or argv[0]", () => {
    expect(looksLikeNode("/usr/bin/node", ["node", "app.js"])).toBe(true);
    expect(looksLikeNode("/opt/node-v24/bin/node (deleted)", ["x"])).toBe(true);
    expect(looksLikeNode("", ["/usr/local/bin/node20", "app.js"])).toBe(true);
    expect(looksLikeNode("/usr/bin/python3", ["python3"])).toBe(false);
    expect(looksLikeNode("/usr/bin/nodemon", ["nodemon"])).toBe(false);
  });
});
