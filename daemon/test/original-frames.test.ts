import { describe, expect, it } from "vitest";
import { SourceMaps } from "../src/attribution/source-maps.js";
import type { ScriptFiles } from "../src/attribution/script-tables.js";

// dist/orders.js, compiled from src/orders.ts: its line 2 is the TypeScript's line 5, column 3.
const FILES: Record<string, string> = {
  "/app/dist/orders.js": `"use strict";\nawait recordOrder();\n//# sourceMappingURL=orders.js.map\n`,
  "/app/dist/orders.js.map": JSON.stringify({ version: 3, file: "orders.js", sources: ["../src/orders.ts"], names: [], mappings: "AAAA;AAIE" }),
};
const files: ScriptFiles = { stamp: (path) => (path in FILES ? "1" : undefined), read: (path) => FILES[path] };

describe("a stack frame at the original source", () => {
  it("is mapped through the script's source map, named, bare or async, and left alone without one", () => {
    const maps = new SourceMaps(files, () => undefined);
    expect(maps.originalFrame("recordOrder (/app/dist/orders.js:2:5)")).toBe("recordOrder (/app/src/orders.ts:5:3)");
    expect(maps.originalFrame("async recordOrder (/app/dist/orders.js:2:1)")).toBe("async recordOrder (/app/src/orders.ts:5:3)");
    expect(maps.originalFrame("async /app/dist/orders.js:2:1")).toBe("async /app/src/orders.ts:5:3");
    expect(maps.originalFrame("/app/dist/orders.js:2:1")).toBe("/app/src/orders.ts:5:3");
    expect(maps.originalFrame("handle (/app/dist/other.js:2:1)")).toBe("handle (/app/dist/other.js:2:1)");
    expect(maps.originalFrame("process.processTicksAndRejections (node:internal/process/task_queues:95:5)")).toBe("process.processTicksAndRejections (node:internal/process/task_queues:95:5)");
  });
});
