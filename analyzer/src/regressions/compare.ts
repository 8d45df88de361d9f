/**
 * Function-level comparison of two sets of profile windows (two deployments,
 * or an earlier and a later period), pure.
 *
 * The measure is each function's self time in B over its self time in A,
 * divided by the same ratio of the typical function: the median over the
 * functions present on both sides, weighted by CPU share, no function
 * weighing more than a third. More traffic, longer
 * periods or more windows scale every function alike and cancel out; a
 * function 30 % slower with the rest unchanged comes out at +30 %, and,
 * because a median is not moved by one function, the functions that did not
 * change stay at 0 % (a share, or time relative to the rest of the work,
 * would show them all getting cheaper). This is the median-of-ratios
 * normalization of compositional data; it holds while fewer than half of the
 * functions change at once.
 *
 * The confidence interval comes from resampling processes and then whole
 * windows within them (a hierarchical bootstrap, seeded, so the same data
 * always gives the same answer), with the normalization redone in every
 * resample. With one process a side, the bootstrap cannot see how much the
 * same code differs from one process to the next; the spread of the other
 * functions' ratios shows it, and widens every interval by it (see
 * processSpread).
 */

import { isAnonymousName } from "@seismo/agent-proto";
import type { DistributionChange } from "./distribution.js";
import { DEFAULT_DISTRIBUTION_SETTINGS, distributionChanges } from "./distribution.js";
import { groupsOf, normalQuantile, resample, seededRandom, spread, weightedMedian } from "./statistics.js";
import type { FunctionInfo, WindowSample } from "./window-sample.js";

export type ChangeKind = "slower" | "faster" | "new" | "gone" | "unchanged";

export interface FunctionChange extends FunctionInfo {
  key: string;
  /** Share of CPU (0..1) in A and in B. */
  shareA: number;
  shareB: number;
  /** The function's time B over A, relative to the typical function's: 1.31 = 31 % slower. Infinity for a new function. */
  ratio: number;
  /** The 95 % confidence interval of the ratio. */
  ciLow: number;
  ciHigh: number;
  /** How many standard errors the ratio is from no change (log scale); 0 when it cannot be said. */
  z: number;
  /** The same ratio for total (inclusive) time: what the function and everything it calls cost. */
  totalRatio: number;
  kind: ChangeKind;
}

export interface Comparison {
  windowsA: number;
  windowsB: number;
  /** Processes (targets) on each side. */
  groupsA: number;
  groupsB: number;
  /** False when either side has fewer windows than the comparison needs to speak. */
  enough: boolean;
  /** How many functions were compared: the decision's confidence is corrected for all of them. */
  compared: number;
  /**
   * How far the same function moves between two processes of the same code (standard deviation,
   * log scale: 0.1 ≈ ±10 %), estimated from the functions when a side ran in one process; every
   * interval includes it. 0 when not estimated (several processes a side, or too few functions).
   */
  processSpread: number;
  /**
   * CPU per window, B / A: how much busier one side was. From `loadShiftRatio` apart, every
   * interval includes at least `loadShiftSpread` (see CompareSettings), and processSpread says so.
   */
  loadRatio: number;
  /** Largest changes first (by how far the CI is from no change). */
  changes: FunctionChange[];
  /** Changes the averages hide: rare slow paths and costs that swing from window to window (100+ windows a side). */
  distribution: DistributionChange[];
}

export interface CompareSettings {
  /** Windows each side needs before anything is said. */
  minWindows: number;
  /** Functions below this share on both sides are not compared. */
  minShare: number;
  /** A change counts only when it is at least this large (1.10 = ±10 %)... */
  minRatio: number;
  /**
   * ...and its interval at this family-wise error rate excludes no change. The rate is shared by all
   * the functions compared (Bonferroni), so comparing 40 functions does not make 40 chances of a
   * false alarm.
   */
  alpha: number;
  /**
   * When one side's CPU per window is this many times the other's (either way)...
   */
  loadShiftRatio: number;
  /**
   * ...the spread between processes is taken as at least this (log scale: 0.1 ≈ ±10 %), with one
   * process a side or several. Load moves what a profile reads, not only what the code costs: on a
   * busy 2-core machine, the first step of a request in identical code read +15 % to +26 % (5 runs)
   * at twice the traffic. V8's sampler thread competes with the app for the CPU and samples late
   * after each wake-up, and the share of wake-ups falls as traffic rises. A bias of the load,
   * shared by every process of a side, which no resampling of processes can see.
   */
  loadShiftSpread: number;
  resamples: number;
  seed: number;
}

export const DEFAULT_COMPARE_SETTINGS: CompareSettings = {
  minWindows: 12,
  minShare: 0.005,
  minRatio: 1.1,
  alpha: 0.01,
  loadShiftRatio: 1.5,
  loadShiftSpread: 0.1,
  resamples: 400,
  seed: 42,
};

/** One function's self or total time in each window. */
function column(windows: WindowSample[], key: string, measure: "selfUs" | "totalUs"): Float64Array {
  // A plain loop: Float64Array.from with a mapping function is many times slower in V8.
  const values = new Float64Array(windows.length);
  for (let i = 0; i < windows.length; i++) values[i] = (windows[i] as WindowSample)[measure].get(key) ?? 0;
  return values;
}

function sum(values: Float64Array, pick?: Uint32Array): number {
  let total = 0;
  if (pick) for (let i = 0; i < pick.length; i++) total += values[pick[i] as number] as number;
  else for (let i = 0; i < values.length; i++) total += values[i] as number;
  return total;
}

interface Candidate {
  key: string;
  selfA: Float64Array;
  selfB: Float64Array;
  shareA: number;
  shareB: number;
  /** Counts toward the typical function: present on both sides, and a real function. */
  reference: boolean;
}

/** log(B/A) of the typical function, from the functions' sums on each side. */
function logScale(candidates: Candidate[], sumA: (c: Candidate) => number, sumB: (c: Candidate) => number, fallback: number): number {
  const logs: number[] = [];
  const weights: number[] = [];
  for (const c of candidates) {
    if (!c.reference) continue;
    const a = sumA(c);
    const b = sumB(c);
    if (a > 0 && b > 0) {
      logs.push(Math.log(b / a));
      weights.push(c.shareA + c.shareB);
    }
  }
  if (logs.length === 0) return fallback;
  // Big functions weigh more (small ones are few samples, and move with V8's inlining), but no
  // function weighs more than a third: one function alone is never the typical one.
  const cap = weights.reduce((sum, w) => sum + w, 0) / 3;
  return weightedMedian(logs, weights.map((w) => Math.min(w, cap)));
}

const Z95 = normalQuantile(0.975);

/** The median of a χ² variable with one degree of freedom: the median of z² for a standard normal z. */
const CHI2_1_MEDIAN = 0.454_936_423_119_572_7;

/** Fewer other functions than this and the spread between processes is not estimated (taken as 0). */
export const MIN_FUNCTIONS_FOR_SPREAD = 4;

/**
 * How much, beyond what the windows show, a function's log ratio moves between
 * two processes running the same code (τ², log scale), estimated from the
 * functions given: those assumed unchanged. Measured on a busy 2-core machine,
 * identical JSON-heavy functions read up to ±20 % apart between two processes
 * (allocation and GC timing differ with traffic), while their windows said
 * ±6 %: without this term, such a function is a confident false regression.
 *
 * τ² is the smallest value for which the median of x²/(v + τ²) is no more than
 * the median of χ²₁, where x is each function's log ratio and v its bootstrap
 * variance. For unchanged functions x²/(v + τ²) is χ²₁; the median, unlike a
 * mean, is not moved by the one function that did change. With v = 0 this is
 * the usual MAD estimate of a spread.
 */
export function processSpread(logRatios: readonly number[], variances: readonly number[]): number {
  if (logRatios.length < MIN_FUNCTIONS_FOR_SPREAD) return 0;
  const medianStandardized = (tau2: number): number => {
    const values = logRatios.map((x, i) => (x * x) / Math.max(1e-12, (variances[i] as number) + tau2)).sort((p, q) => p - q);
    const mid = values.length >> 1;
    return values.length % 2 ? (values[mid] as number) : ((values[mid - 1] as number) + (values[mid] as number)) / 2;
  };
  if (medianStandardized(0) <= CHI2_1_MEDIAN) return 0;
  // Decreasing in τ²: bisect between 0 and a value large enough.
  let low = 0;
  let high = Math.max(...logRatios.map((x) => x * x)) / CHI2_1_MEDIAN;
  for (let i = 0; i < 60; i++) {
    const mid = (low + high) / 2;
    if (medianStandardized(mid) > CHI2_1_MEDIAN) low = mid;
    else high = mid;
  }
  return high;
}

/**
 * Node's own JavaScript (node: files) and native frames: their cost follows the traffic's shape
 * (how socket writes batch, keep-alive) as much as the code, and the app cannot change them. They
 * show in `seismo diff`, but do not make a regression on their own, nor say how much the same
 * code moves between processes while the app has functions enough to say it.
 */
export function isRuntimeInternal(c: { file: string; name: string }): boolean {
  return !c.file || c.file.startsWith("node:") || (c.name.startsWith("(") && !isAnonymousName(c.name));
}

/** Pseudo-functions, "(program)" and the like, follow the traffic, not the code: never the typical function. */
function isRealFunction(name: string): boolean {
  return !name.startsWith("(") || isAnonymousName(name);
}

/**
 * Compares windows B with windows A, function by function. Pure and deterministic.
 *
 * The interval is log-normal around the observed ratio, its width from the bootstrap's standard
 * error. Two intervals are used: the 95 % one that is reported, and a wider one for deciding, at
 * a family-wise error rate `alpha` shared by every function compared.
 */
export function compareWindows(
  a: WindowSample[],
  b: WindowSample[],
  info: (key: string) => FunctionInfo,
  settings: CompareSettings = DEFAULT_COMPARE_SETTINGS,
): Comparison {
  const enough = a.length >= settings.minWindows && b.length >= settings.minWindows;
  const cpuA = new Float64Array(a.map((w) => w.cpuUs));
  const cpuB = new Float64Array(b.map((w) => w.cpuUs));
  const totalCpuA = sum(cpuA);
  const totalCpuB = sum(cpuB);
  const keys = new Set<string>();
  for (const w of [...a, ...b]) for (const k of w.selfUs.keys()) keys.add(k);
  const candidates: Candidate[] = [];
  for (const key of keys) {
    const selfA = column(a, key, "selfUs");
    const selfB = column(b, key, "selfUs");
    const shareA = totalCpuA > 0 ? sum(selfA) / totalCpuA : 0;
    const shareB = totalCpuB > 0 ? sum(selfB) / totalCpuB : 0;
    if (shareA < settings.minShare && shareB < settings.minShare) continue;
    candidates.push({ key, selfA, selfB, shareA, shareB, reference: shareA > 0 && shareB > 0 && isRealFunction(info(key).name) });
  }
  const cpuScale = totalCpuA > 0 && totalCpuB > 0 ? Math.log(totalCpuB / totalCpuA) : 0;
  const scale = logScale(candidates, (c) => sum(c.selfA), (c) => sum(c.selfB), cpuScale);

  // Bootstrap: the same resampled windows for every function, so their intervals are comparable.
  const logRatios = new Map<string, number[]>(candidates.map((c) => [c.key, []]));
  const groupsA = groupsOf(a);
  const groupsB = groupsOf(b);
  if (enough) {
    const next = seededRandom(settings.seed);
    for (let r = 0; r < settings.resamples; r++) {
      const pickA = resample(groupsA, next);
      const pickB = resample(groupsB, next);
      const sumsA = new Map(candidates.map((c) => [c.key, sum(c.selfA, pickA)]));
      const sumsB = new Map(candidates.map((c) => [c.key, sum(c.selfB, pickB)]));
      const cpuScaleR = Math.log(sum(cpuB, pickB) / sum(cpuA, pickA));
      const scaleR = logScale(candidates, (c) => sumsA.get(c.key) as number, (c) => sumsB.get(c.key) as number, cpuScaleR);
      for (const c of candidates) {
        (logRatios.get(c.key) as number[]).push(Math.log((sumsB.get(c.key) as number) / (sumsA.get(c.key) as number)) - scaleR);
      }
    }
  }

  const zDecide = normalQuantile(1 - settings.alpha / (2 * Math.max(1, candidates.length)));
  const bootstrapSe = new Map(candidates.map((c) => [c.key, c.shareA > 0 && c.shareB > 0 ? spread(logRatios.get(c.key) as number[]) : Number.NaN]));
  // The spread between processes, from the other real functions (leave one out: a function's own
  // change must not widen its own interval). Only when a side has a single process: with several,
  // the bootstrap already resamples processes. Each function's observed log ratio and bootstrap
  // variance are computed once here, not once per function left out.
  const singleProcess = groupsA.length < 2 || groupsB.length < 2;
  const measured = candidates
    .filter((c) => c.reference && Number.isFinite(bootstrapSe.get(c.key)))
    .map((c) => ({ key: c.key, logRatio: Math.log(sum(c.selfB) / sum(c.selfA)) - scale, variance: (bootstrapSe.get(c.key) as number) ** 2 }));
  // The app's own functions and its packages' say how far the same code moves between processes;
  // Node's internals also move with the traffic's shape (measured: a socket write batching
  // differently read -40 to -74 % in a run where the app's five unchanged helpers read within ±7 %).
  const codeFunctions = measured.filter((f) => !isRuntimeInternal(info(f.key)));
  const spreadFrom = codeFunctions.length > MIN_FUNCTIONS_FOR_SPREAD ? codeFunctions : measured;
  const spreadOf = (functions: typeof spreadFrom): number =>
    processSpread(
      functions.map((f) => f.logRatio),
      functions.map((f) => f.variance),
    );
  const loadRatio = totalCpuA > 0 && totalCpuB > 0 && a.length > 0 && b.length > 0 ? totalCpuB / b.length / (totalCpuA / a.length) : 1;
  const loadFloor = Math.abs(Math.log(loadRatio)) >= Math.log(settings.loadShiftRatio) ? settings.loadShiftSpread ** 2 : 0;
  const processVariance = (key: string): number => Math.max(loadFloor, singleProcess && enough ? spreadOf(spreadFrom.filter((f) => f.key !== key)) : 0);
  const changes: FunctionChange[] = [];
  for (const c of candidates) {
    const selfSumA = sum(c.selfA);
    const ratio = selfSumA > 0 ? Math.exp(Math.log(sum(c.selfB) / selfSumA) - scale) : Number.POSITIVE_INFINITY;
    const boot = bootstrapSe.get(c.key) as number;
    const se = Number.isFinite(boot) ? Math.sqrt(boot ** 2 + processVariance(c.key)) : Number.NaN;
    const known = Number.isFinite(se) && se > 0;
    const ciLow = known ? ratio * Math.exp(-Z95 * se) : ratio;
    const ciHigh = known ? ratio * Math.exp(Z95 * se) : ratio;
    const z = known ? Math.log(ratio) / se : 0;
    // V8 does not always tell an inlined callee from its caller: the same code in another process
    // may charge a helper's time to the function it was inlined into. The caller's self time then
    // jumps while its total time, which includes the helper either way, does not. A function is
    // "slower" only when its total time rose by at least half as much as its self time.
    const totalSumA = sum(column(a, c.key, "totalUs"));
    const totalSumB = sum(column(b, c.key, "totalUs"));
    const totalRatio = totalSumA > 0 ? Math.exp(Math.log(totalSumB / totalSumA) - scale) : Number.POSITIVE_INFINITY;
    const totalRise = (totalCpuB > 0 ? totalSumB / totalCpuB : 0) - (totalCpuA > 0 ? totalSumA / totalCpuA : 0);
    const beyond = Math.abs(z) > zDecide;
    const kind: ChangeKind =
      !enough ? "unchanged"
      : c.shareA === 0 ? "new"
      : c.shareB === 0 ? "gone"
      : beyond && ratio >= settings.minRatio && totalRise >= 0.5 * (c.shareB - c.shareA) ? "slower"
      : beyond && ratio <= 1 / settings.minRatio ? "faster"
      : "unchanged";
    changes.push({ key: c.key, ...info(c.key), shareA: c.shareA, shareB: c.shareB, ratio, ciLow, ciHigh, z, totalRatio, kind });
  }
  const rank = (c: FunctionChange): number =>
    c.kind === "new" ? 2e6 + c.shareB
    : c.kind === "gone" ? 2e6 + c.shareA
    : c.kind !== "unchanged" ? 1e6 + Math.abs(Math.log(c.ratio))
    : Math.abs(c.z);
  changes.sort((x, y) => rank(y) - rank(x) || y.shareB - x.shareB);
  return {
    windowsA: a.length,
    windowsB: b.length,
    groupsA: groupsA.length,
    groupsB: groupsB.length,
    enough,
    compared: candidates.length,
    processSpread: Math.sqrt(Math.max(loadFloor, singleProcess && enough ? spreadOf(spreadFrom) : 0)),
    loadRatio,
    changes,
    distribution: enough ? distributionChanges(a, b, info, candidates, { ...DEFAULT_DISTRIBUTION_SETTINGS, alpha: settings.alpha }) : [],
  };
}
