import { describe, expect, it } from "vitest";
import { filePathOfScriptUrl, packageOfPath } from "../src/sampler/package-of.js";

describe("packageOfPath", () => {
  it("names plain, scoped and nested packages (the innermost wins)", () => {
    expect(packageOfPath("/app/node_modules/express/lib/router/index.js")).toEqual({ name: "express", root: "/app/node_modules/express" });
    expect(packageOfPath("/app/node_modules/@nats-io/nats-core/lib/core.js")).toEqual({
      name: "@nats-io/nats-core",
      root: "/app/node_modules/@nats-io/nats-core",
    });
    expect(packageOfPath("/app/node_modules/a/node_modules/b/index.js")?.name).toBe("b");
  });

  it("says nothing for app code and malformed paths", () => {
    expect(packageOfPath("/app/src/server.js")).toBeUndefined();
    expect(packageOfPath("/app/node_modules/")).toBeUndefined();
    expect(packageOfPath("/app/node_modules/@scope/")).toBeUndefined();
  });
});

describe("filePathOfScriptUrl", () => {
  it("turns file URLs into paths and leaves internals empty", () => {
    expect(filePathOfScriptUrl("file:///app/my%20dir/x.js")).toBe("/app/my dir/x.js");
    expect(filePathOfScriptUrl("/app/x.js")).toBe("/app/x.js");
    expect(filePathOfScriptUrl("node:internal/timers")).toBe("");
    expect(filePathOfScriptUrl("")).toBe("");
  });
});
