/**
 * Function-level comparison of two sets of profile windows (two deployments,
 * or an earlier and a later period), pure.
 *
 * The measure is a function's self time relative to the rest of the CPU
 * work in the same windows, (self / (cpu − self)), summed over windows: the
 * odds of a sample landing in the function. More traffic with the same mix
 * leaves it unchanged; a function 30 % slower with everything else unchanged
 * has its odds go up by exactly 30 %. (Its share of CPU would show less: from
 * 75 % to 79.6 % for a dominant function.) The 95 % confidence interval of the
 * ratio comes from resampling whole windows (bootstrap, seeded, so the same
 * data always gives the same answer).
 */

export interface WindowSample {
  cpuUs: number;
  /** Self time per stable function key, µs. */
  selfUs: Map<string, number>;
  /** Total (inclusive) time per stable function key, µs. */
  totalUs: Map<string, number>;
}

export interface FunctionInfo {
  name: string;
  file: string;
  line: number;
  package: string | null;
  packageVersion: string | null;
}

export type ChangeKind = "slower" | "faster" | "new" | "gone" | "unchanged";

export interface FunctionChange extends FunctionInfo {
  key: string;
  /** Share of CPU (0..1) in A and in B. */
  shareA: number;
  shareB: number;
  /** B's odds over A's: 1.31 = 31 % more time per unit of the rest of the work. Infinity for a new function. */
  ratio: number;
  ciLow: number;
  ciHigh: number;
  /** The same ratio for total (inclusive) time: what the function and everything it calls cost. */
  totalRatio: number;
  kind: ChangeKind;
}

export interface Comparison {
  windowsA: number;
  windowsB: number;
  /** False when either side has fewer windows than the comparison needs to speak. */
  enough: boolean;
  /** Largest changes first (by how far the CI is from no change). */
  changes: FunctionChange[];
}

export interface CompareSettings {
  /** Windows each side needs before anything is said. */
  minWindows: number;
  /** Functions below this share on both sides are not compared. */
  minShare: number;
  /** A change counts when its whole 95 % CI is beyond this ratio (1.10 = ±10 %). */
  minRatio: number;
  resamples: number;
  seed: number;
}

export const DEFAULT_COMPARE_SETTINGS: CompareSettings = { minWindows: 12, minShare: 0.005, minRatio: 1.1, resamples: 1_000, seed: 42 };

/** Small, fast, seeded PRNG (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

interface Columns {
  cpu: Float64Array;
  self: Float64Array;
}

function columns(windows: WindowSample[], key: string, measure: "selfUs" | "totalUs" = "selfUs"): Columns {
  const cpu = new Float64Array(windows.length);
  const self = new Float64Array(windows.length);
  windows.forEach((w, i) => {
    cpu[i] = w.cpuUs;
    self[i] = w[measure].get(key) ?? 0;
  });
  return { cpu, self };
}

function odds(c: Columns, pick?: Uint32Array): number {
  let self = 0;
  let cpu = 0;
  const n = pick ? pick.length : c.cpu.length;
  for (let i = 0; i < n; i++) {
    const j = pick ? (pick[i] as number) : i;
    self += c.self[j] as number;
    cpu += c.cpu[j] as number;
  }
  const rest = cpu - self;
  return rest > 0 ? self / rest : Number.POSITIVE_INFINITY;
}

function share(c: Columns): number {
  let self = 0;
  let cpu = 0;
  for (let i = 0; i < c.cpu.length; i++) {
    self += c.self[i] as number;
    cpu += c.cpu[i] as number;
  }
  return cpu > 0 ? self / cpu : 0;
}

function percentile(sorted: number[], p: number): number {
  const at = (sorted.length - 1) * p;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return (sorted[lo] as number) + ((sorted[hi] as number) - (sorted[lo] as number)) * (at - lo);
}

export function compareWindows(
  a: WindowSample[],
  b: WindowSample[],
  info: (key: string) => FunctionInfo,
  settings: CompareSettings = DEFAULT_COMPARE_SETTINGS,
): Comparison {
  const enough = a.length >= settings.minWindows && b.length >= settings.minWindows;
  const keys = new Set<string>();
  for (const w of [...a, ...b]) for (const k of w.selfUs.keys()) keys.add(k);
  const next = random(settings.seed);
  const picks = (n: number): Uint32Array[] =>
    Array.from({ length: settings.resamples }, () => Uint32Array.from({ length: n }, () => Math.floor(next() * n)));
  // The same resampled windows for every function, so their intervals are comparable.
  const picksA = enough ? picks(a.length) : [];
  const picksB = enough ? picks(b.length) : [];

  const changes: FunctionChange[] = [];
  for (const key of keys) {
    const ca = columns(a, key);
    const cb = columns(b, key);
    const shareA = share(ca);
    const shareB = share(cb);
    if (shareA < settings.minShare && shareB < settings.minShare) continue;
    const oddsA = odds(ca);
    const oddsB = odds(cb);
    const ratio = oddsA > 0 ? oddsB / oddsA : Number.POSITIVE_INFINITY;
    let ciLow = ratio;
    let ciHigh = ratio;
    if (enough && oddsA > 0) {
      const ratios: number[] = [];
      for (let r = 0; r < settings.resamples; r++) {
        const ra = odds(ca, picksA[r]);
        ratios.push(ra > 0 ? odds(cb, picksB[r]) / ra : Number.POSITIVE_INFINITY);
      }
      ratios.sort((x, y) => x - y);
      ciLow = percentile(ratios, 0.025);
      ciHigh = percentile(ratios, 0.975);
    }
    // V8 does not always tell an inlined callee from its caller: the same code in another process
    // may charge a helper's time to the function it was inlined into. The caller's self time then
    // jumps while its total time, which includes the helper either way, does not. A function is
    // "slower" only when its total time rose too.
    const totalA = odds(columns(a, key, "totalUs"));
    const totalRatio = totalA > 0 ? odds(columns(b, key, "totalUs")) / totalA : Number.POSITIVE_INFINITY;
    const kind: ChangeKind =
      !enough ? "unchanged"
      : shareA === 0 ? "new"
      : shareB === 0 ? "gone"
      : ciLow > settings.minRatio && totalRatio > settings.minRatio ? "slower"
      : ciHigh < 1 / settings.minRatio ? "faster"
      : "unchanged";
    changes.push({ key, ...info(key), shareA, shareB, ratio, ciLow, ciHigh, totalRatio, kind });
  }
  const distance = (c: FunctionChange): number =>
    c.kind === "new" ? c.shareB * 1e3 : c.kind === "gone" ? c.shareA * 1e3 : Math.max(Math.log(c.ciLow), -Math.log(c.ciHigh), 0) + Math.abs(Math.log(c.ratio)) * 1e-3;
  changes.sort((x, y) => distance(y) - distance(x) || y.shareB - x.shareB);
  return { windowsA: a.length, windowsB: b.length, enough, changes };
}
