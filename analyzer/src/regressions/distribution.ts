/**
 * Changes that an average hides, from window to window, pure.
 *
 * - A rare slow path: a function that, in a few windows, takes far more than
 *   it ever did before, while its overall figure barely moves. Counted as the
 *   share of B's windows above A's 99th percentile for that function (1 % of
 *   A's by construction); a one-sided binomial test says whether B has more.
 * - Unstable cost: a function whose share now swings from window to window
 *   far more than before (a cache that works one minute and not the next; a
 *   cost that switches between two levels). Measured as the ratio of its
 *   per-window variance beyond what sampling alone explains.
 *
 * Both need many windows: a 99th percentile needs at least 100. Costs that
 * differ between calls within one window (bimodal per request) average out in
 * a window and are not visible here; they need per-request timings.
 */
import { normalQuantile } from "./statistics.js";
import type { FunctionInfo, WindowSample } from "./window-sample.js";

export type DistributionChangeKind = "rare_slow_path" | "unstable";

export interface DistributionChange extends FunctionInfo {
  key: string;
  kind: DistributionChangeKind;
  /** Windows of B above A's 99th percentile of this function's share, and how many B had. */
  tailWindows: number;
  windowsB: number;
  /** A's 99th percentile of the function's per-window share. */
  threshold: number;
  /** The mean share of the function in B's tail windows. */
  tailShare: number;
  /** Per-window variance of the share beyond sampling noise, B over A. */
  dispersionRatio: number;
  /** Overall share in A and B. */
  shareA: number;
  shareB: number;
}

export interface DistributionSettings {
  /** Windows each side needs. */
  minWindows: number;
  /** The function's share in its tail windows must be at least this. */
  minTailShare: number;
  /** Windows need this many samples' worth of CPU to count (shares of near-empty windows are noise). */
  minWindowSamples: number;
  samplingIntervalUs: number;
  /** A function is unstable when its excess variance grew this many times. */
  minDispersionRatio: number;
  /** Family-wise error rate over the functions tested. */
  alpha: number;
}

export const DEFAULT_DISTRIBUTION_SETTINGS: DistributionSettings = {
  minWindows: 100,
  minTailShare: 0.05,
  minWindowSamples: 20,
  samplingIntervalUs: 10_000,
  minDispersionRatio: 4,
  alpha: 0.01,
};

function shares(windows: WindowSample[], key: string, settings: DistributionSettings): Array<{ share: number; samples: number }> {
  const minCpu = settings.minWindowSamples * settings.samplingIntervalUs;
  return windows.filter((w) => w.cpuUs >= minCpu).map((w) => ({ share: (w.selfUs.get(key) ?? 0) / w.cpuUs, samples: w.cpuUs / settings.samplingIntervalUs }));
}

/** P(X >= k) for X ~ Binomial(n, p), summed in log space. */
export function binomialTail(k: number, n: number, p: number): number {
  if (k <= 0) return 1;
  let logTerm = n * Math.log(1 - p); // P(X = 0)
  let tail = 0;
  for (let x = 0; x <= n; x++) {
    if (x >= k) tail += Math.exp(logTerm);
    logTerm += Math.log((n - x) / (x + 1)) + Math.log(p / (1 - p));
  }
  return Math.min(1, tail);
}

/**
 * Variance of the per-window share beyond binomial sampling noise, relative to the sampling noise
 * itself: 0 for a perfectly steady function, large when the cost moves between windows.
 */
function excessDispersion(values: Array<{ share: number; samples: number }>): number {
  const mean = values.reduce((s, v) => s + v.share, 0) / values.length;
  const observed = values.reduce((s, v) => s + (v.share - mean) ** 2, 0) / (values.length - 1);
  const sampling = values.reduce((s, v) => s + (mean * (1 - mean)) / v.samples, 0) / values.length;
  return sampling > 0 ? Math.max(observed - sampling, 0) / sampling : 0;
}

export function distributionChanges(
  a: WindowSample[],
  b: WindowSample[],
  info: (key: string) => FunctionInfo,
  candidates: Array<{ key: string; shareA: number; shareB: number }>,
  settings: DistributionSettings = DEFAULT_DISTRIBUTION_SETTINGS,
): DistributionChange[] {
  const changes: DistributionChange[] = [];
  const tested = candidates.filter((c) => c.shareA > 0);
  const perTest = settings.alpha / Math.max(1, tested.length);
  for (const { key, shareA, shareB } of tested) {
    const sa = shares(a, key, settings);
    const sb = shares(b, key, settings);
    if (sa.length < settings.minWindows || sb.length < settings.minWindows) continue;
    const sorted = sa.map((v) => v.share).sort((x, y) => x - y);
    const threshold = sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)] as number;
    const above = sb.filter((v) => v.share > threshold);
    const tailRateA = sa.filter((v) => v.share > threshold).length / sa.length;
    const tailShare = above.length > 0 ? above.reduce((s, v) => s + v.share, 0) / above.length : 0;
    const dispersionA = excessDispersion(sa);
    const dispersionB = excessDispersion(sb);
    // A floor for A's excess: a function steady to within sampling noise must not make any wobble "4x".
    const dispersionRatio = dispersionB / Math.max(dispersionA, 0.25);
    const common = { key, ...info(key), tailWindows: above.length, windowsB: sb.length, threshold, tailShare, dispersionRatio, shareA, shareB };
    const rareSlowPath =
      tailShare >= settings.minTailShare && tailShare >= 2 * threshold && binomialTail(above.length, sb.length, Math.max(tailRateA, 0.01)) < perTest;
    if (rareSlowPath) {
      changes.push({ ...common, kind: "rare_slow_path" });
      continue;
    }
    // The variance ratio's noise: with n windows, a chi-square's relative spread is about sqrt(2/n) a side.
    const spread = Math.sqrt(2 / sa.length + 2 / sb.length);
    const z = Math.log(Math.max(dispersionRatio, 1e-9)) / spread;
    if (dispersionRatio >= settings.minDispersionRatio && z > normalQuantile(1 - perTest)) changes.push({ ...common, kind: "unstable" });
  }
  return changes.sort((x, y) => y.tailShare - x.tailShare || y.dispersionRatio - x.dispersionRatio);
}
