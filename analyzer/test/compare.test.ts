import { describe, expect, it } from "vitest";
import type { FunctionInfo, WindowSample } from "../src/regressions/window-sample.js";
import { compareWindows, processSpread } from "../src/regressions/compare.js";
import { stableFunctionKey } from "../src/regressions/function-key.js";
import { regressionCulprits } from "../src/regressions/regressions.js";

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
    expect(regressionCulprits(result)[0]?.note).toMatch(/^\+[23]\d % \(95 % CI \+\d+…\+\d+ %\)/);
  });

  it("reads how far the same code moves between processes from the app's functions, not from Node's internals that follow the traffic", () => {
    const app = { subtotal: 400, discountFor: 400, taxFor: 400, shippingFor: 400, loyaltyPoints: 400, handler: 50 };
    const internals = { writeHead: 60, ReadableState: 40, parserOnIncoming: 50, end: 40, writevGeneric: 30, emit: 40 };
    // In B, the socket writes batch differently: every internal moves by 40 to 70 %, the app's code does not.
    const shifted = { writeHead: 30, ReadableState: 12, parserOnIncoming: 25, end: 70, writevGeneric: 60, emit: 16 };
    const a = windows(40, { ...app, ...internals }, 100, 1);
    const b = windows(60, { ...app, taxFor: 520, ...shifted }, 100, 2);
    const where = (key: string): FunctionInfo => ({ ...info(key), file: key in internals ? "node:_http_server" : "/app/checkout.js" });
    const result = compareWindows(a, b, where);
    expect(result.processSpread).toBeLessThan(0.05);
    // The internals that did move are listed (seismo diff shows them), but make no regression.
    expect(result.changes.filter((c) => c.kind === "slower").map((c) => c.key)).toContain("taxFor");
    expect(regressionCulprits(result).map((c) => c.name)).toEqual(["taxFor"]);
  });

  it("says in a culprit's note what of its time Seismo inferred, and counts an anonymous app function as the app's code", () => {
    const a = windows(60, { ...costs, "(anonymous) router.get('/x', …)": 300 }, 100, 1);
    const b = windows(60, { ...costs, renderInvoice: 650, "(anonymous) router.get('/x', …)": 450 }, 100, 2);
    const inferred = (key: string): FunctionInfo => ({
      ...info(key),
      attribution: key === "renderInvoice" ? { selfSamples: 1_000, inlinedSamples: 900, uncertainSamples: 0 } : { selfSamples: 1_000, inlinedSamples: 0, uncertainSamples: 200 },
    });
    const culprits = regressionCulprits(compareWindows(a, b, inferred));
    expect(culprits.map((c) => c.name).sort()).toEqual(["(anonymous) router.get('/x', …)", "renderInvoice"]);
    expect(culprits.find((c) => c.name === "renderInvoice")?.note).toMatch(/V8 inlined it: 90 % of its time was charged to its caller and moved back by Seismo/);
    expect(culprits.find((c) => c.name !== "renderInvoice")?.note).toMatch(/20 % of its time may be inlined code of other functions \(uncertain\)/);
  });

  it("says nothing between two deployments of identical code, nor when traffic doubles", () => {
    const a = windows(60, costs, 100, 3);
    expect(compareWindows(a, windows(60, costs, 100, 4), info).changes.filter((c) => c.kind !== "unchanged")).toEqual([]);
    expect(compareWindows(a, windows(60, costs, 200, 5), info).changes.filter((c) => c.kind !== "unchanged")).toEqual([]);
  });

  it("under twice the load, the first step of a request reading +22 % in identical code is within the widened interval; the same +22 % at the same load is named", () => {
    // What a busy machine did to identical code at 50 and 100 req/s: the first step read +15 to +26 %.
    const six = { parseOrder: 300, renderInvoice: 300, computeTax: 300, checkStock: 300, reserveItems: 300, sendReceipt: 300 };
    const a = windows(45, six, 50, 11);
    const busier = compareWindows(a, windows(45, { ...six, parseOrder: 366 }, 100, 12), info);
    expect(busier.loadRatio).toBeGreaterThan(1.9);
    expect(busier.processSpread).toBeGreaterThanOrEqual(0.1);
    const parse = busier.changes.find((c) => c.key === "parseOrder");
    expect(parse?.ratio).toBeGreaterThan(1.15);
    expect(parse?.kind).toBe("unchanged");
    // The same reading at the same load is a change: the floor applies only when the load moved.
    const same = compareWindows(a, windows(45, { ...six, parseOrder: 366 }, 50, 12), info);
    expect(same.loadRatio).toBeLessThan(1.5);
    expect(same.changes.find((c) => c.key === "parseOrder")?.kind).toBe("slower");
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

  it("does not call the other functions slower when one got much faster, nor faster when one got slower", () => {
    const a = windows(60, costs, 100, 12);
    // "other" (half the CPU) made three times faster: relative to the rest of the work, everything else would look 50 % slower.
    const faster = compareWindows(a, windows(60, { ...costs, other: 333 }, 100, 13), info);
    expect(faster.changes.filter((c) => c.kind !== "unchanged").map((c) => [c.key, c.kind])).toEqual([["other", "faster"]]);
    const slower = compareWindows(a, windows(60, { ...costs, renderInvoice: 650 }, 100, 14), info);
    expect(slower.changes.find((c) => c.key === "parseOrder")?.ratio).toBeCloseTo(1, 1);
    expect(slower.changes.find((c) => c.key === "computeTax")?.ciHigh).toBeGreaterThan(1);
  });

  it("counts how much processes differ when each side ran several: the interval widens, and a difference between processes is not a regression", () => {
    // Four processes a side; in each, renderInvoice costs 0.8x to 1.2x (V8 optimized it differently), the same on both sides.
    const spread = [0.8, 0.93, 1.07, 1.2];
    const side = (seed: number): WindowSample[] =>
      spread.flatMap((f, p) => windows(15, { ...costs, renderInvoice: 500 * f }, 100, seed + p).map((w) => ({ ...w, group: `pid-${p}` })));
    const a = side(20);
    const b = side(30);
    const flat = (ws: WindowSample[]): WindowSample[] => ws.map(({ group: _, ...w }) => w);
    const grouped = compareWindows(a, b, info).changes.find((c) => c.key === "renderInvoice");
    const ungrouped = compareWindows(flat(a), flat(b), info).changes.find((c) => c.key === "renderInvoice");
    expect(grouped?.kind).toBe("unchanged");
    const width = (c: typeof grouped): number => Math.log((c?.ciHigh ?? 0) / (c?.ciLow ?? 1));
    expect(width(grouped)).toBeGreaterThan(width(ungrouped) * 2);
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

describe("the spread between processes, with one process a side", () => {
  // Eight functions; in B's process each costs a little more or less than in A's though the code is
  // the same (what GC and allocation timing do to JSON-heavy code between two processes).
  const eight = { parseOrder: 300, renderInvoice: 500, computeTax: 300, checkStock: 300, reserveItems: 300, sendReceipt: 300, encode: 300, other: 1_000 };
  const drift = { parseOrder: 1.18, renderInvoice: 1, computeTax: 0.88, checkStock: 1.1, reserveItems: 0.92, sendReceipt: 1.04, encode: 0.95, other: 1 };
  const scaled = (factors: Record<string, number>): Record<string, number> =>
    Object.fromEntries(Object.entries(eight).map(([name, cost]) => [name, cost * (factors[name] ?? 1)]));

  it("is estimated from the other functions, and is not moved by the one that changed", () => {
    expect(processSpread([0.2, -0.2, 0.1], [0, 0, 0])).toBe(0);
    expect(processSpread([0.01, -0.02, 0.015, 0, -0.01], [0.001, 0.001, 0.001, 0.001, 0.001])).toBe(0);
    // Drawn at ±10 % (log sd 0.1), windows precise: τ near 0.1, with or without one far-off function.
    const drawn = [-0.15, -0.1, -0.07, -0.03, 0, 0.03, 0.07, 0.1, 0.15, 0.05, -0.05];
    const tau = Math.sqrt(processSpread(drawn, drawn.map(() => 1e-6)));
    expect(tau).toBeGreaterThan(0.06);
    expect(tau).toBeLessThan(0.14);
    expect(Math.sqrt(processSpread([...drawn, 0.9], [...drawn.map(() => 1e-6), 1e-6]))).toBeLessThan(tau * 1.3);
    // The windows' own noise is not counted twice.
    expect(Math.sqrt(processSpread(drawn, drawn.map(() => 0.1 ** 2)))).toBeLessThan(tau / 2);
  });

  it("identical code whose functions drift by up to ±18 % between the two processes is no regression", () => {
    const a = windows(60, eight, 100, 40);
    const b = windows(60, scaled(drift), 200, 41);
    const result = compareWindows(a, b, info);
    expect(result.changes.filter((c) => c.kind !== "unchanged")).toEqual([]);
    expect(result.processSpread).toBeGreaterThan(0.05);
    // With several processes a side, the bootstrap sees the spread itself: no estimate is added,
    // only the floor for a load that moved (here it doubled)...
    const groups = (windowsOf: WindowSample[], name: string): WindowSample[] => windowsOf.map((w, i) => ({ ...w, group: `${name}${i % 2}` }));
    const grouped = compareWindows(groups(a, "p"), groups(b, "q"), info);
    expect(grouped.processSpread).toBe(0.1);
    // ...and none at the same load.
    expect(compareWindows(groups(a, "p"), groups(windows(60, scaled(drift), 100, 41), "q"), info).processSpread).toBe(0);
  });

  it("still names a function made 30 % slower when the others drift by a few percent", () => {
    const a = windows(60, eight, 100, 42);
    const small = Object.fromEntries(Object.entries(drift).map(([name, f]) => [name, 1 + (f - 1) / 4]));
    const b = windows(60, scaled({ ...small, renderInvoice: 1.3 }), 100, 43);
    const result = compareWindows(a, b, info);
    expect(result.changes.filter((c) => c.kind !== "unchanged").map((c) => [c.key, c.kind])).toEqual([["renderInvoice", "slower"]]);
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
    // An anonymous route handler keeps its identity by its route; a bare callback by its line.
    const route = { ...base, name: "(anonymous) router.get('/reports', …)" };
    expect(stableFunctionKey(route)).toBe(stableFunctionKey({ ...route, line: 40 }));
    const callback = { ...base, name: "(anonymous) items.map(…)" };
    expect(stableFunctionKey(callback)).not.toBe(stableFunctionKey({ ...callback, line: 40 }));
  });
});
