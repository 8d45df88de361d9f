/**
 * How a figure that Seismo inferred is told apart from one V8 gave, on every
 * surface that names a function (`top`, `diff`, regressions, the heads-up,
 * MCP). Pure.
 *
 * `*`: V8 charged this time to the function this one was inlined into, and
 * the daemon moved it back by its source lines (exact within one script).
 * `?`: part of the function's own time may be inlined code of other functions
 * that its lines cannot tell apart: the figure is V8's, but it may not all be
 * this function's.
 */

/** Below this share of a function's self time, what de-inlining did is not worth a mark. */
export const MARK_SHARE = 0.05;

export interface AttributionShares {
  /** The part (0..1) of the function's self samples moved to it from the function V8 inlined it into. */
  inlinedShare: number;
  /** The part (0..1) of its self samples that may be inlined code of other functions. */
  uncertainShare: number;
}

/** Sample counts as stored, per function over some windows. */
export interface AttributionSamples {
  selfSamples: number;
  inlinedSamples: number;
  uncertainSamples: number;
}

export function attributionShares(samples: AttributionSamples | undefined): AttributionShares {
  if (!samples || samples.selfSamples <= 0) return { inlinedShare: 0, uncertainShare: 0 };
  return { inlinedShare: Math.min(1, samples.inlinedSamples / samples.selfSamples), uncertainShare: Math.min(1, samples.uncertainSamples / samples.selfSamples) };
}

/** "*", "?", "*?" or "". */
export function attributionMarks(shares: AttributionShares): string {
  return (shares.inlinedShare >= MARK_SHARE ? "*" : "") + (shares.uncertainShare >= MARK_SHARE ? "?" : "");
}

/** "checksum *" when Seismo moved inlined time here, "handle ?" when part of its time may be inlined code it cannot name. */
export function markedName(fn: { name: string } & AttributionShares): string {
  const marks = attributionMarks(fn);
  return marks ? `${fn.name} ${marks}` : fn.name;
}

/** What `*` means, for a legend under a table. */
export const INLINED_LEGEND =
  "* inlined: V8 charged this time to the function it was inlined into; Seismo moved it back by its source lines (--as-v8-charged: V8's figures)";

/** What `?` means for one function, for a legend under a table. */
export function uncertainLegend(name: string, where: string, uncertainShare: number, candidates: readonly string[]): string {
  const what = candidates.length > 0 ? `inlined code of ${candidates.join(" or ")}` : "inlined code of another script";
  return `? ${name}${where ? ` (${where})` : ""}: ${(uncertainShare * 100).toFixed(1)}% of its self time may be ${what}; its lines cannot tell`;
}

/** A sentence for a culprit's note, "" when nothing was inferred. */
export function attributionSentence(shares: AttributionShares): string {
  const parts: string[] = [];
  if (shares.inlinedShare >= MARK_SHARE) {
    parts.push(`V8 inlined it: ${Math.round(shares.inlinedShare * 100)} % of its time was charged to its caller and moved back by Seismo from its source lines`);
  }
  if (shares.uncertainShare >= MARK_SHARE) parts.push(`${Math.round(shares.uncertainShare * 100)} % of its time may be inlined code of other functions (uncertain)`);
  return parts.length ? `${parts.join("; ")}.` : "";
}
