import type { EndpointStat } from "./messages.js";

/**
 * Latency histograms shared by the daemon (which fills them inside the target) and the analyzer
 * (which merges them and reads percentiles). Log-scale buckets, four per doubling: bucket i holds
 * latencies in (MIN·2^((i-1)/4), MIN·2^(i/4)] ms, bucket 0 everything up to MIN. A percentile read
 * from them is within 19 % of the true value (one bucket's width), whatever the scale, and a
 * window's histogram stays small: a route whose latency spans 1 to 100 ms fills about 27 buckets.
 * Histograms merge by adding counts, so windows, processes and deployments combine exactly.
 */

/** The upper bound of bucket 0, ms. */
export const LATENCY_MIN_MS = 0.05;
export const LATENCY_BUCKETS_PER_DOUBLING = 4;
/** The last bucket (about 59 hours): everything longer lands there too. */
export const LATENCY_MAX_BUCKET = 160;

/** The bucket a latency falls in. The daemon's in-target script computes the same (see http-probe). */
export function latencyBucket(ms: number): number {
  if (!(ms > LATENCY_MIN_MS)) return 0;
  return Math.min(LATENCY_MAX_BUCKET, Math.ceil(Math.log2(ms / LATENCY_MIN_MS) * LATENCY_BUCKETS_PER_DOUBLING));
}

/** The upper bound of a bucket, ms. */
export function bucketUpperMs(bucket: number): number {
  return LATENCY_MIN_MS * 2 ** (bucket / LATENCY_BUCKETS_PER_DOUBLING);
}

/** A sparse histogram: bucket index → count. */
export type LatencyHistogram = Map<number, number>;

/** Adds `indexes[i]` → `counts[i]` into `into` (the wire form is two parallel arrays). */
export function addBuckets(into: LatencyHistogram, indexes: readonly number[], counts: readonly number[]): LatencyHistogram {
  for (let i = 0; i < indexes.length && i < counts.length; i++) {
    const bucket = indexes[i] as number;
    into.set(bucket, (into.get(bucket) ?? 0) + (counts[i] as number));
  }
  return into;
}

/**
 * The q-quantile (0 < q ≤ 1) of a histogram, ms: the upper bound of the bucket holding it, or the
 * geometric middle of that bucket when `midpoint` (less biased; the upper bound never understates).
 * NaN for an empty histogram.
 */
export function latencyQuantile(histogram: LatencyHistogram, q: number, midpoint = true): number {
  let total = 0;
  for (const count of histogram.values()) total += count;
  if (total === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil(q * total));
  let seen = 0;
  for (const bucket of [...histogram.keys()].sort((x, y) => x - y)) {
    seen += histogram.get(bucket) as number;
    if (seen >= rank) {
      if (!midpoint || bucket === 0) return bucketUpperMs(bucket);
      return bucketUpperMs(bucket - 0.5);
    }
  }
  return bucketUpperMs(LATENCY_MAX_BUCKET);
}

/**
 * Endpoint entries with the same method, host, route and status merged into one (counts and histograms
 * added, the max kept), in first-seen order. Pure. The daemon merges a late read with the next;
 * the store merges defensively, one row per key.
 */
export function mergeEndpointStats(stats: readonly EndpointStat[]): EndpointStat[] {
  const merged = new Map<string, { stat: EndpointStat; buckets: LatencyHistogram }>();
  for (const s of stats) {
    const key = `${s.method}\u0000${s.status}\u0000${s.host}\u0000${s.route}`;
    const seen = merged.get(key);
    if (!seen) {
      merged.set(key, { stat: { ...s }, buckets: addBuckets(new Map(), s.bucketIndexes, s.bucketCounts) });
      continue;
    }
    seen.stat.count += s.count;
    seen.stat.totalMs += s.totalMs;
    seen.stat.maxMs = Math.max(seen.stat.maxMs, s.maxMs);
    seen.stat.routeTemplate ||= s.routeTemplate;
    addBuckets(seen.buckets, s.bucketIndexes, s.bucketCounts);
  }
  return [...merged.values()].map(({ stat, buckets }) => {
    const indexes = [...buckets.keys()].sort((x, y) => x - y);
    return { ...stat, bucketIndexes: indexes, bucketCounts: indexes.map((b) => buckets.get(b) as number) };
  });
}
