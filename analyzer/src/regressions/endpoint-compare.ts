import { groupsOf, normalQuantile, resample, seededRandom, spread } from "./statistics.js";

/** One window's requests to one endpoint (all statuses together). */
export interface EndpointWindowSample {
  /** The process the window came from: the bootstrap draws processes, then windows within them. */
  group?: string;
  /** "method\0host\0route" → what the window saw of it (host empty for served endpoints). */
  endpoints: Map<string, { calls: number; totalMs: number; errors: number }>;
}

export interface EndpointChange {
  /** "in": an endpoint the service served; "out": an HTTP call it made; "db": a database query it ran. */
  direction: "in" | "out" | "db";
  method: string;
  /** Outgoing calls: the destination; queries: the database; "" for endpoints. */
  host: string;
  /** The route, or for a query its statement digest. */
  route: string;
  /**
   * "slower": its mean latency rose by at least `minRatio`, with the 95 % interval's low end above
   * `minCiLow`. "errors": its share of 5xx answers rose well beyond chance. "unchanged" otherwise.
   */
  kind: "slower" | "errors" | "unchanged";
  callsA: number;
  callsB: number;
  meanMsA: number;
  meanMsB: number;
  /** Mean latency B / A, with its 95 % bootstrap interval (windows resampled within processes). */
  ratio: number;
  ciLow: number;
  ciHigh: number;
  errorsA: number;
  errorsB: number;
  errorRateA: number;
  errorRateB: number;
  /** Calls per window B / A: latency that rose with the traffic may be load, not code. */
  trafficRatio: number;
}

export interface EndpointCompareSettings {
  /** An endpoint is judged only with at least this many calls on each side. */
  minCalls: number;
  /** Slower: mean latency at least this ratio... */
  minRatio: number;
  /** ...and the 95 % interval's low end at least this. */
  minCiLow: number;
  /** Errors: at least this many 5xx answers after, at this share or more... */
  minErrors: number;
  minErrorRate: number;
  /** ...and this many standard errors above the share before (two-proportion z). */
  errorZ: number;
  resamples: number;
  seed: number;
}

/**
 * Latency follows load as much as code (queueing, a slower database), so the bar is high, as
 * peers set it: twice as slow, with the interval's low end at +50 %, over 350 calls a side. A
 * deployment that makes an endpoint's 5xx share jump is named at 10 errors and 2 %.
 */
export const DEFAULT_ENDPOINT_COMPARE_SETTINGS: EndpointCompareSettings = {
  minCalls: 350,
  minRatio: 2,
  minCiLow: 1.5,
  minErrors: 10,
  minErrorRate: 0.02,
  errorZ: 4,
  resamples: 400,
  seed: 42,
};

const Z95 = normalQuantile(0.975);

function sums(windows: EndpointWindowSample[], key: string, pick?: Uint32Array): { calls: number; totalMs: number; errors: number } {
  const out = { calls: 0, totalMs: 0, errors: 0 };
  const n = pick ? pick.length : windows.length;
  for (let i = 0; i < n; i++) {
    const w = windows[pick ? (pick[i] as number) : i] as EndpointWindowSample;
    const e = w.endpoints.get(key);
    if (!e) continue;
    out.calls += e.calls;
    out.totalMs += e.totalMs;
    out.errors += e.errors;
  }
  return out;
}

/** Endpoints of windows B against windows A: latency and 5xx share, changed ones first. Pure and deterministic. */
export function compareEndpoints(
  a: EndpointWindowSample[],
  b: EndpointWindowSample[],
  settings: EndpointCompareSettings = DEFAULT_ENDPOINT_COMPARE_SETTINGS,
  direction: EndpointChange["direction"] = "in",
): EndpointChange[] {
  const keys = new Set<string>();
  for (const w of [...a, ...b]) for (const k of w.endpoints.keys()) keys.add(k);
  const groupsA = groupsOf(a);
  const groupsB = groupsOf(b);
  const changes: EndpointChange[] = [];
  for (const key of keys) {
    const before = sums(a, key);
    const after = sums(b, key);
    if (before.calls < settings.minCalls || after.calls < settings.minCalls) continue;
    const meanA = before.totalMs / before.calls;
    const meanB = after.totalMs / after.calls;
    const ratio = meanA > 0 ? meanB / meanA : Number.POSITIVE_INFINITY;
    // Bootstrap the log ratio of means: the same seed for every endpoint, so their intervals compare.
    const next = seededRandom(settings.seed);
    const logRatios: number[] = [];
    for (let r = 0; r < settings.resamples; r++) {
      const x = sums(a, key, resample(groupsA, next));
      const y = sums(b, key, resample(groupsB, next));
      if (x.calls > 0 && y.calls > 0 && x.totalMs > 0) logRatios.push(Math.log(y.totalMs / y.calls / (x.totalMs / x.calls)));
    }
    const se = spread(logRatios);
    const ciLow = Number.isFinite(se) ? ratio * Math.exp(-Z95 * se) : ratio;
    const ciHigh = Number.isFinite(se) ? ratio * Math.exp(Z95 * se) : ratio;
    const rateA = before.errors / before.calls;
    const rateB = after.errors / after.calls;
    const pooled = (before.errors + after.errors) / (before.calls + after.calls);
    const errorSe = Math.sqrt(pooled * (1 - pooled) * (1 / before.calls + 1 / after.calls));
    const errorZ = errorSe > 0 ? (rateB - rateA) / errorSe : 0;
    const kind: EndpointChange["kind"] =
      after.errors >= settings.minErrors && rateB >= settings.minErrorRate && errorZ >= settings.errorZ ? "errors"
      : ratio >= settings.minRatio && ciLow >= settings.minCiLow ? "slower"
      : "unchanged";
    const [method = "", host = "", route = ""] = key.split("\u0000");
    changes.push({
      direction,
      method,
      host,
      route,
      kind,
      callsA: before.calls,
      callsB: after.calls,
      meanMsA: meanA,
      meanMsB: meanB,
      ratio,
      ciLow,
      ciHigh,
      errorsA: before.errors,
      errorsB: after.errors,
      errorRateA: rateA,
      errorRateB: rateB,
      trafficRatio: a.length > 0 && b.length > 0 && before.calls > 0 ? after.calls / b.length / (before.calls / a.length) : 1,
    });
  }
  const rank = (c: EndpointChange): number => (c.kind === "errors" ? 2e6 + c.errorRateB : c.kind === "slower" ? 1e6 + c.ratio : c.ratio);
  return changes.sort((x, y) => rank(y) - rank(x));
}

/**
 * "`GET /orders/:id` mean latency +85 % (95 % CI +60…+110 %), 12.1 → 22.4 ms",
 * "query `SELECT * FROM orders WHERE id = $1` on postgresql://db:5432/shop mean latency ...",
 * "`POST /checkout` 5xx 0.1 % → 8.0 % of 1,204 calls"
 */
export function describeEndpointChange(c: EndpointChange): string {
  const pct = (r: number): string => `${r >= 1 ? "+" : ""}${Math.round((r - 1) * 100)}`;
  const what =
    c.direction === "db" ? `query \`${c.route}\` on ${c.host}`
    : c.direction === "out" ? `call \`${c.method} ${c.host}${c.route}\``
    : `\`${c.method} ${c.route}\``;
  if (c.kind === "errors") {
    return `${what} ${c.direction === "in" ? "5xx" : "failed"} ${(c.errorRateA * 100).toFixed(1)} % → ${(c.errorRateB * 100).toFixed(1)} % of ${c.callsB} calls`;
  }
  const traffic = c.trafficRatio >= 1.5 ? ` at ${c.trafficRatio.toFixed(1)}× the traffic` : "";
  return `${what} mean latency ${pct(c.ratio)} % (95 % CI ${pct(c.ciLow)}…${pct(c.ciHigh)} %), ${c.meanMsA.toFixed(1)} → ${c.meanMsB.toFixed(1)} ms${traffic}`;
}
