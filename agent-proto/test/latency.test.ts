import { describe, expect, it } from "vitest";
import type { EndpointStat } from "../src/index.js";
import { bucketUpperMs, latencyBucket, latencyQuantile, mergeEndpointStats } from "../src/index.js";

describe("latency histograms", () => {
  it("puts a latency in the bucket whose bounds hold it, four buckets per doubling", () => {
    for (const ms of [0.01, 0.05, 0.051, 0.3, 1, 7.3, 25, 999, 60_000]) {
      const bucket = latencyBucket(ms);
      expect(ms).toBeLessThanOrEqual(bucketUpperMs(bucket) * (1 + 1e-12));
      if (bucket > 0) expect(ms).toBeGreaterThan(bucketUpperMs(bucket - 1));
    }
    expect(latencyBucket(2) - latencyBucket(1)).toBe(4);
    expect(latencyBucket(Number.NaN)).toBe(0);
  });

  it("reads percentiles within one bucket (19 %) of the exact ones", () => {
    // A long-tailed sample: 1..1000 ms, log-uniform.
    const values = Array.from({ length: 10_000 }, (_, i) => 10 ** ((3 * i) / 9_999));
    const histogram = new Map<number, number>();
    for (const v of values) histogram.set(latencyBucket(v), (histogram.get(latencyBucket(v)) ?? 0) + 1);
    for (const q of [0.5, 0.95, 0.99]) {
      const exact = values[Math.ceil(q * values.length) - 1] as number;
      const read = latencyQuantile(histogram, q);
      expect(Math.abs(Math.log(read / exact))).toBeLessThan(Math.log(1.19));
    }
    expect(latencyQuantile(new Map(), 0.5)).toBeNaN();
  });

  it("merges entries of the same method, route and status: counts and histograms added, the max kept", () => {
    const a: EndpointStat = { method: "GET", route: "/r", status: 200, count: 2, totalMs: 4, maxMs: 3, bucketIndexes: [40, 45], bucketCounts: [1, 1], routeTemplate: false, host: "" };
    const b: EndpointStat = { ...a, count: 1, totalMs: 9, maxMs: 9, bucketIndexes: [45], bucketCounts: [1] };
    const other: EndpointStat = { ...a, status: 500 };
    expect(mergeEndpointStats([a, other, b])).toEqual([
      { ...a, count: 3, totalMs: 13, maxMs: 9, bucketIndexes: [40, 45], bucketCounts: [1, 2] },
      other,
    ]);
  });
});
