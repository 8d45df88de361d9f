import { describe, expect, it } from "vitest";
import type { Comparison } from "../src/regressions/compare.js";
import type { FunctionInfo, WindowSample } from "../src/regressions/window-sample.js";
import { compareWindows } from "../src/regressions/compare.js";
import { binomialTail, distributionChanges } from "../src/regressions/distribution.js";
import { regressionCulprits } from "../src/regressions/regressions.js";

/** Deterministic uniform [0, 1). */
function uniform(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1_103_515_245 + 12_345) % 2_147_483_648;
    return s / 2_147_483_648;
  };
}

/** Windows of `samples` 10 ms samples each, drawn from the functions' expected shares (multinomial, as a profiler sees them). */
function windows(n: number, sharesOf: (i: number) => Record<string, number>, samples: number, seed: number): WindowSample[] {
  const next = uniform(seed);
  return Array.from({ length: n }, (_, i) => {
    const shares = sharesOf(i);
    const names = Object.keys(shares);
    const selfUs = new Map<string, number>(names.map((k) => [k, 0]));
    for (let s = 0; s < samples; s++) {
      let r = next();
      const name = names.find((k) => (r -= shares[k] as number) < 0) ?? (names.at(-1) as string);
      selfUs.set(name, (selfUs.get(name) ?? 0) + 10_000);
    }
    return { cpuUs: samples * 10_000, selfUs, totalUs: new Map(selfUs) };
  });
}

const info = (key: string): FunctionInfo => ({ name: key, file: "/app/server.js", line: 1, package: null, packageVersion: null });
const steady = { parseOrder: 0.3, renderInvoice: 0.3, auditTrail: 0.02, computeTax: 0.38 };
const candidates = (a: WindowSample[], b: WindowSample[]) => compareWindows(a, b, info).changes.map((c) => ({ key: c.key, shareA: c.shareA, shareB: c.shareB }));

describe("changes an average hides", () => {
  it("finds a rare slow path: a function that in a few windows takes far more than it ever did", () => {
    const a = windows(300, () => steady, 100, 1);
    // In 1 window in 25, auditTrail takes 25 % of the CPU (a slow path on a rare input).
    const b = windows(300, (i) => (i % 25 === 7 ? { ...steady, auditTrail: 0.25, computeTax: 0.15 } : steady), 100, 2);
    const found = distributionChanges(a, b, info, candidates(a, b));
    expect(found.map((d) => [d.key, d.kind])).toEqual([["auditTrail", "rare_slow_path"]]);
    expect(found[0]?.tailWindows).toBeGreaterThanOrEqual(10);
    expect(found[0]?.tailShare).toBeGreaterThan(0.15);
  });

  it("finds a cost that swings between two levels from minute to minute, with the same average", () => {
    const a = windows(300, () => steady, 100, 3);
    // renderInvoice alternates between 15 % and 45 % in blocks of 20 windows (a cache that works, then not).
    const b = windows(300, (i) => (Math.floor(i / 20) % 2 === 0 ? { ...steady, renderInvoice: 0.15, computeTax: 0.53 } : { ...steady, renderInvoice: 0.45, computeTax: 0.23 }), 100, 4);
    const found = distributionChanges(a, b, info, candidates(a, b));
    expect(found.find((d) => d.key === "renderInvoice")?.kind).toBe("unstable");
    expect(found.find((d) => d.key === "renderInvoice")?.dispersionRatio).toBeGreaterThan(10);
  });

  it("says nothing for the same code, nor for twice the traffic (twice the samples a window), nor with too few windows", () => {
    const a = windows(300, () => steady, 100, 5);
    expect(distributionChanges(a, windows(300, () => steady, 100, 6), info, candidates(a, a))).toEqual([]);
    expect(distributionChanges(a, windows(300, () => steady, 200, 7), info, candidates(a, a))).toEqual([]);
    expect(distributionChanges(a.slice(0, 50), windows(50, () => ({ ...steady, auditTrail: 0.3, computeTax: 0.1 }), 100, 8), info, candidates(a, a))).toEqual([]);
  });

  it("makes a rare slow path a regression culprit when the average did not move enough to say so", () => {
    const a = windows(300, () => steady, 100, 9);
    const b = windows(300, (i) => (i % 25 === 7 ? { ...steady, auditTrail: 0.25, computeTax: 0.15 } : steady), 100, 10);
    const comparison: Comparison = compareWindows(a, b, info);
    const quiet: Comparison = { ...comparison, changes: comparison.changes.map((c) => ({ ...c, kind: "unchanged" as const })) };
    const culprits = regressionCulprits(quiet);
    expect(culprits.map((c) => [c.name, c.change.kind])).toEqual([["auditTrail", "rare_slow_path"]]);
    expect(culprits[0]?.note).toMatch(/^a rare slow path: in \d+\.\d % of windows it took \d+ % of CPU/);
  });

  it("computes binomial tails", () => {
    expect(binomialTail(0, 10, 0.5)).toBe(1);
    expect(binomialTail(10, 10, 0.5)).toBeCloseTo(1 / 1024, 6);
    expect(binomialTail(6, 300, 0.01)).toBeCloseTo(0.0829, 3);
  });
});
