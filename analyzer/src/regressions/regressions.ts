import { attributionSentence, attributionShares } from "../query/attribution-marks.js";
import type { Culprit } from "../spike/culprits.js";
import type { Comparison, FunctionChange } from "./compare.js";
import type { FunctionInfo } from "./window-sample.js";
import { isRuntimeInternal } from "./compare.js";
import type { DistributionChange } from "./distribution.js";

/** A culprit of a regression: the function's share before (baselineShare) and after (share), and the change with its CI. */
export interface RegressionCulprit extends Culprit {
  change: { kind: "slower" | "new" | "rare_slow_path" | "unstable"; ratio: number | null; ciLow: number | null; ciHigh: number | null };
}

export interface RegressionSettings {
  /** A slower function must take at least this share of CPU after the deployment to matter. */
  minShare: number;
  /** A function never seen before must take at least this share. */
  minNewShare: number;
}

export const DEFAULT_REGRESSION_SETTINGS: RegressionSettings = { minShare: 0.01, minNewShare: 0.05 };

function percent(ratio: number): string {
  const p = (ratio - 1) * 100;
  return `${p >= 0 ? "+" : ""}${p.toFixed(0)} %`;
}

/** "+31 % (95 % CI +24…+38 %)" */
export function describeChange(change: FunctionChange): string {
  if (change.kind === "new") return `new, ${(change.shareB * 100).toFixed(1)} % of CPU`;
  return `${percent(change.ratio)} (95 % CI ${percent(change.ciLow).replace(" %", "")}…${percent(change.ciHigh)})`;
}

export { isRuntimeInternal };

/** A culprit in the shape incidents share with spikes: the function, its shares after and before, the change. */
function culprit(f: FunctionInfo & { shareA: number; shareB: number }, note: string, change: RegressionCulprit["change"]): RegressionCulprit {
  return {
    name: f.name,
    file: f.file || null,
    line: f.line || null,
    package: f.package,
    packageVersion: f.packageVersion,
    builtin: false,
    share: f.shareB,
    baselineShare: f.shareA,
    hotLine: null,
    appFrame: f.package || !f.file || f.file.startsWith("node:") ? null : { name: f.name, file: f.file, line: f.line },
    callers: [],
    note: [note, attributionSentence(attributionShares(f.attribution))].filter(Boolean).join(" "),
    samples: 0,
    change,
  };
}

const finite = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** The functions of a comparison that make a regression, most changed first. Pure. */
export function regressionCulprits(comparison: Comparison, settings: RegressionSettings = DEFAULT_REGRESSION_SETTINGS): RegressionCulprit[] {
  if (!comparison.enough) return [];
  const evidence = `${comparison.windowsB} windows vs ${comparison.windowsA}`;
  const averaged = comparison.changes
    .filter((c) => !isRuntimeInternal(c))
    .filter((c) => (c.kind === "slower" && c.shareB >= settings.minShare) || (c.kind === "new" && c.shareB >= settings.minNewShare))
    .map((c) =>
      culprit(c, `${describeChange(c)} relative to the typical function, ${evidence}.`, {
        kind: c.kind === "new" ? "new" : "slower",
        ratio: finite(c.ratio),
        ciLow: finite(c.ciLow),
        ciHigh: finite(c.ciHigh),
      }),
    );
  const named = new Set(averaged.map((c) => `${c.file}\u0000${c.name}`));
  const hidden = comparison.distribution
    .filter((d) => !isRuntimeInternal(d) && !named.has(`${d.file || null}\u0000${d.name}`))
    .map((d) => culprit(d, `${describeDistributionChange(d)}, ${evidence}.`, { kind: d.kind, ratio: null, ciLow: null, ciHigh: null }));
  return [...averaged, ...hidden];
}

/** "in 7 % of windows it took 31 % of CPU (never over 4 % before)"; "its share swings 6.2x more from window to window" */
export function describeDistributionChange(d: DistributionChange): string {
  if (d.kind === "rare_slow_path") {
    return `a rare slow path: in ${((d.tailWindows / d.windowsB) * 100).toFixed(1)} % of windows it took ${(d.tailShare * 100).toFixed(0)} % of CPU (above ${(d.threshold * 100).toFixed(1)} % in only 1 % of windows before)`;
  }
  return `unstable: its share swings ${d.dispersionRatio.toFixed(1)}x more from window to window than before`;
}
