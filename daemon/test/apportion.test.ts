import { describe, expect, it } from "vitest";
import { apportionLines, integerShares } from "../src/attribution/apportion.js";

describe("apportioning shared lines", () => {
  it("gives a line one candidate fits all its ticks", () => {
    const [a] = apportionLines([{ line: 3, ticks: 7, candidates: [{ key: "f" }] }]);
    expect([...(a?.given ?? [])]).toEqual([["f", 7]]);
  });

  it("lets the one candidate of unknown weight (the caller's own code) take what the known one does not predict", () => {
    const out = apportionLines([
      { line: 4, ticks: 30, candidates: [{ key: "g", lineShare: 0.5 }] }, // g alone: weight 60
      { line: 9, ticks: 50, candidates: [{ key: "self" }, { key: "g", lineShare: 0.25 }] }, // g predicts 15
    ]);
    expect(out[1]?.given.get("g")).toBe(15);
    expect(out[1]?.given.get("self")).toBe(35);
    expect(out[1]?.uncertain).toBe(0);
  });

  it("never gives more than the line has, and leaves what two unknowns share uncertain", () => {
    const out = apportionLines([
      { line: 4, ticks: 100, candidates: [{ key: "g", lineShare: 0.1 }] }, // weight 1000
      { line: 9, ticks: 20, candidates: [{ key: "g", lineShare: 0.5 }, { key: "self" }] },
      { line: 11, ticks: 12, candidates: [{ key: "self" }, { key: "h" }] },
      { line: 12, ticks: 5, candidates: [] },
    ]);
    expect(out[1]?.given.get("g")).toBe(20);
    expect(out[1]?.given.get("self") ?? 0).toBe(0);
    expect(out[2]).toMatchObject({ uncertain: 12, uncertainKeys: ["self", "h"] });
    expect(out[3]).toMatchObject({ uncertain: 5, uncertainKeys: [] });
  });

  it("splits integer ticks by largest remainder, summing to the whole", () => {
    expect(integerShares([1, 1, 1], 10)).toEqual([4, 3, 3]);
    expect(integerShares([0, 0], 3)).toEqual([3, 0]);
  });
});
