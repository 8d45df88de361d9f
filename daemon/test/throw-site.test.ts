import { describe, expect, it } from "vitest";
import { appThrowSite, errorFingerprint, throwSite } from "../src/capture/throw-site.js";

describe("the throw site of an exception", () => {
  it("is the innermost frame in a file, skipping built-ins and Node's own code", () => {
    expect(
      throwSite([
        "JSON.parse (<anonymous>)",
        "parseBody (node:internal/deps/undici:12:3)",
        "async Router.handle [as handle] (/app/src/router.js:42:17)",
        "/app/src/server.js:10:5",
      ]),
    ).toEqual({ file: "/app/src/router.js", line: 42, column: 17, functionName: "handle" });
    expect(throwSite(["/app/index.js:3:9"])).toEqual({ file: "/app/index.js", line: 3, column: 9, functionName: "(anonymous)" });
    expect(throwSite(["new Order (file:///app/src/my%20order.mjs:7:11)"])).toEqual({ file: "/app/src/my order.mjs", line: 7, column: 11, functionName: "Order" });
    expect(throwSite(["Array.map (<anonymous>)", "process.processTicksAndRejections (node:internal/process/task_queues:95:5)"])).toBeUndefined();
    expect(throwSite([])).toBeUndefined();
  });

  it("reads an anonymous async function's frame, and for a handled error places it on the app's own line, not its driver's", () => {
    const stack = ["/app/node_modules/pg-pool/index.js:45:11", "process.processTicksAndRejections (node:internal/process/task_queues:95:5)", "async /app/src/orders.js:65:7"];
    expect(throwSite(stack)).toEqual({ file: "/app/node_modules/pg-pool/index.js", line: 45, column: 11, functionName: "(anonymous)" });
    expect(appThrowSite(stack)).toEqual({ file: "/app/src/orders.js", line: 65, column: 7, functionName: "(anonymous)" });
    expect(appThrowSite(["/app/node_modules/pg-pool/index.js:45:11"])).toEqual({ file: "/app/node_modules/pg-pool/index.js", line: 45, column: 11, functionName: "(anonymous)" });
  });

  it("has a fingerprint from its class and line: the message and the column do not count", () => {
    const site = { file: "/app/a.js", line: 4, column: 9, functionName: "f" };
    const fp = errorFingerprint("RangeError", site);
    expect(fp).toMatch(/^[0-9a-f]{12}$/);
    expect(errorFingerprint("RangeError", { ...site, column: 30 })).toBe(fp);
    expect(errorFingerprint("TypeError", site)).not.toBe(fp);
    expect(errorFingerprint("RangeError", { ...site, line: 5 })).not.toBe(fp);
    expect(errorFingerprint("RangeError", undefined)).not.toBe(fp);
  });
});
