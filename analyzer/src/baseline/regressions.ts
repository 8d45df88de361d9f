import type { Culprit } from "../spike/culprits.js";
import type { Comparison, FunctionChange } from "./compare.js";

/** A culprit of a regression: the function's share before (baselineShare) and after (share), and the change with its CI. */
export interface RegressionCulprit extends Culprit {
  change: { kind: "slower" | "new"; ratio: number | null; ciLow: number | null; ciHigh: number | null };
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

/** The functions of a comparison that make a regression, most changed first. Pure. */
export function regressionCulprits(comparison: Comparison, settings: RegressionSettings = DEFAULT_REGRESSION_SETTINGS): RegressionCulprit[] {
  if (!comparison.enough) return [];
  return comparison.changes
    .filter((c) => (c.kind === "slower" && c.shareB >= settings.minShare) || (c.kind === "new" && c.shareB >= settings.minNewShare))
    .map((c) => ({
      name: c.name,
      file: c.file || null,
      line: c.line || null,
      package: c.package,
      packageVersion: c.packageVersion,
      builtin: false,
      share: c.shareB,
      baselineShare: c.shareA,
      hotLine: null,
      appFrame: c.package || !c.file || c.file.startsWith("node:") ? null : { name: c.name, file: c.file, line: c.line },
      callers: [],
      note: `${describeChange(c)} time per unit of the rest of the work, ${comparison.windowsB} windows vs ${comparison.windowsA}.`,
      samples: 0,
      change: {
        kind: c.kind === "new" ? "new" : "slower",
        ratio: Number.isFinite(c.ratio) ? c.ratio : null,
        ciLow: Number.isFinite(c.ciLow) ? c.ciLow : null,
        ciHigh: Number.isFinite(c.ciHigh) ? c.ciHigh : null,
      },
    }));
}
