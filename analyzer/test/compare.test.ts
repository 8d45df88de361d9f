import { describe, expect, it } from "vitest";
import type { FunctionInfo, WindowSample } from "../src/index.js";
import { compareWindows, regressionCulprits, stableFunctionKey } from "../src/index.js";

/** Deterministic noise in [-1, 1). */
function noise(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1_103_515_245 + 12_345) % 2_147_483_648;
    return (s / 2_147_483_648) * 2 - 1;
  };
}

/** Windows where each function costs `costs[name]` µs per request, with ±15 % noise and `requests` per window. */
function windows(n: number, costs: Record<string, number>, requests: number, seed: number): WindowSample[] {
  const next = noise(seed);
  return Array.from({ length: n }, () => {
    const selfUs = new Map<string, number>();
    let cpuUs = 0;
    const load = requests * (1 + 0.1 * next());
    for (const [name, cost] of Object.entries(costs)) {
      const us = cost * load * (1 + 0.15 * next());
      selfUs.set(name, us);
      cpuUs += us;
    }
    // Leaf functions: total time is self time.
    return { cpuUs, selfUs, totalUs: new Map(selfUs) };
  });
}

const info = (key: string): FunctionInfo => ({ name: key, file: "/app/server.js", line: 1, package: null, packageVersion: null });
const costs = { parseOrder: 300, renderInvoice: 500, computeTax: 200, other: 1_000 };

describe("comparing deployments", () => {
  it("names the one function made 30 % slower, with a 95 % CI that excludes no change, and only that one", () => {
    const a = windows(60, costs, 100, 1);
    const b = windows(60, { ...costs, renderInvoice: 650 }, 100, 2);
    const result = compareWindows(a, b, info);
    const slower = result.changes.filter((c) => c.kind === "slower");
    expect(slower.map((c) => c.key)).toEqual(["renderInvoice"]);
    const [render] = slower;
    expect(render?.ratio).toBeGreaterThan(1.2);
    expect(render?.ratio).toBeLessThan(1.4);
    expect(render?.ciLow).toBeGreaterThan(1.1);
    expect(render?.ciHigh).toBeGreaterThan(render?.ratio ?? 0);
    expect(result.changes[0]?.key).toBe("renderInvoice");
    expect(regressionCulprits(result).map((c) => c.name)).toEqual(["renderInvoice"]);
    expect(regressionCulprits(result)[0]?.note).toMatch(/^\+3\d % \(95 % CI \+\d+…\+\d+ %\)/);
  });

  it("says nothing between two deployments of identical code, nor when traffic doubles", () => {
    const a = windows(60, costs, 100, 3);
    expect(compareWindows(a, windows(60, costs, 100, 4), info).changes.filter((c) => c.kind !== "unchanged")).toEqual([]);
    expect(compareWindows(a, windows(60, costs, 200, 5), info).changes.filter((c) => c.kind !== "unchanged")).toEqual([]);
  });

  it("reports a function never seen before that takes a real share, and stays silent with too few windows", () => {
    const a = windows(30, costs, 100, 6);
    const b = windows(30, { ...costs, auditLog: 400 }, 100, 7);
    const result = compareWindows(a, b, info);
    expect(result.changes[0]).toMatchObject({ key: "auditLog", kind: "new", shareA: 0 });
    expect(regressionCulprits(result).map((c) => c.change.kind)).toEqual(["new"]);
    const few = compareWindows(a.slice(0, 5), b.slice(0, 5), info);
    expect(few.enough).toBe(false);
    expect(regressionCulprits(few)).toEqual([]);
  });

  it("gives the same answer for the same data (seeded resampling)", () => {
    const a = windows(40, costs, 100, 8);
    const b = windows(40, { ...costs, computeTax: 260 }, 100, 9);
    expect(compareWindows(a, b, info)).toEqual(compareWindows(a, b, info));
  });

  it("does not take V8 charging an inlined helper to its caller for the caller getting slower", () => {
    // Same code; in B's process the helper was inlined and its time shows as the handler's self time.
    const a = windows(40, costs, 100, 10).map((w) => ({ ...w, totalUs: new Map([...w.totalUs, ["handler", w.cpuUs * 0.95]]) }));
    const b = windows(40, costs, 100, 11).map((w) => {
      const selfUs = new Map(w.selfUs);
      selfUs.set("handler", selfUs.get("renderInvoice") ?? 0);
      selfUs.delete("renderInvoice");
      const totalUs = new Map(selfUs);
      totalUs.set("handler", w.cpuUs * 0.95);
      return { ...w, selfUs, totalUs };
    });
    const result = compareWindows(a, b, info);
    expect(result.changes.find((c) => c.key === "handler")?.kind).toBe("new");
    expect(result.changes.filter((c) => c.kind === "slower")).toEqual([]);
  });
});

describe("function identity across deployments", () => {
  it("ignores line moves and package upgrades, but not which package or file", () => {
    const base = { name: "renderInvoice", filePath: "/app/src/invoice.js", scriptUrl: "file:///app/src/invoice.js", line: 12, packageName: null };
    expect(stableFunctionKey(base)).toBe(stableFunctionKey({ ...base, line: 40 }));
    const dep = { name: "_encipher", filePath: "/app/node_modules/bcryptjs/umd/index.js", scriptUrl: "", line: 796, packageName: "bcryptjs" };
    expect(stableFunctionKey(dep)).toBe("pkg:bcryptjs/umd/index.js:_encipher");
    expect(stableFunctionKey({ ...dep, filePath: "/srv/v2/node_modules/bcryptjs/umd/index.js", line: 800 })).toBe(stableFunctionKey(dep));
    expect(stableFunctionKey({ ...base, name: "(anonymous)" })).not.toBe(stableFunctionKey({ ...base, name: "(anonymous)", line: 13 }));
  });
});
