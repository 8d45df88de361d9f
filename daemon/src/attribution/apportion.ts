/**
 * Splits the ticks of lines that fit more than one function. Pure.
 *
 * A line fits several functions when inlined code of another script has a
 * line number that also lies in the caller's own script (V8 keeps the line,
 * not the script), or when two functions share a line. What tells them apart
 * is how each function spends its time when V8 shows it un-inlined (before
 * TurboFan optimizes its caller, or where it is not inlined): its line shares.
 * A function's weight in this node comes from its lines no other candidate
 * fits; on a shared line it then takes what its shares predict, and one
 * candidate with no known weight (most often the caller's own code) takes the
 * rest. With two or more unknowns left, the rest stays uncertain. These splits
 * are estimates, and counted as Seismo's inference like every move.
 */
export interface LineCandidate {
  key: string;
  /** Share (0..1) of the function's own ticks seen on this line when it ran un-inlined; undefined when unknown. */
  lineShare?: number;
}

export interface LineTicks {
  line: number;
  ticks: number;
  candidates: LineCandidate[];
}

export interface LineAllocation {
  line: number;
  /** Ticks given to each candidate key. */
  given: Map<string, number>;
  /** Ticks no candidate could be given; they stay where V8 put them. */
  uncertain: number;
  /** Keys of the candidates the uncertain ticks may belong to. */
  uncertainKeys: string[];
}

export function apportionLines(lines: LineTicks[]): LineAllocation[] {
  // Weights from lines that only one candidate fits.
  const alone = new Map<string, { ticks: number; share: number }>();
  for (const line of lines) {
    if (line.candidates.length !== 1) continue;
    const only = line.candidates[0] as LineCandidate;
    if (only.lineShare === undefined || only.lineShare <= 0) continue;
    const seen = alone.get(only.key) ?? { ticks: 0, share: 0 };
    seen.ticks += line.ticks;
    seen.share += only.lineShare;
    alone.set(only.key, seen);
  }
  const weightOf = (key: string): number | undefined => {
    const seen = alone.get(key);
    return seen && seen.share > 0 ? seen.ticks / seen.share : undefined;
  };

  return lines.map((line): LineAllocation => {
    const given = new Map<string, number>();
    if (line.candidates.length === 0) return { line: line.line, given, uncertain: line.ticks, uncertainKeys: [] };
    if (line.candidates.length === 1) {
      given.set((line.candidates[0] as LineCandidate).key, line.ticks);
      return { line: line.line, given, uncertain: 0, uncertainKeys: [] };
    }
    const expected: Array<[string, number]> = [];
    const unknown: string[] = [];
    for (const candidate of line.candidates) {
      const weight = weightOf(candidate.key);
      if (weight === undefined || candidate.lineShare === undefined) unknown.push(candidate.key);
      else expected.push([candidate.key, weight * candidate.lineShare]);
    }
    const predicted = expected.reduce((sum, [, value]) => sum + value, 0);
    if (unknown.length === 0) {
      // Every candidate is known: split the line in proportion to what each predicts.
      const counts = integerShares(
        expected.map(([, value]) => value),
        line.ticks,
      );
      expected.forEach(([key], i) => given.set(key, counts[i] as number));
      return { line: line.line, given, uncertain: 0, uncertainKeys: [] };
    }
    const scale = predicted > line.ticks ? line.ticks / predicted : 1;
    let left = line.ticks;
    for (const [key, value] of expected) {
      const ticks = Math.min(left, Math.round(value * scale));
      if (ticks > 0) given.set(key, ticks);
      left -= ticks;
    }
    if (unknown.length === 1) {
      if (left > 0) given.set(unknown[0] as string, (given.get(unknown[0] as string) ?? 0) + left);
      return { line: line.line, given, uncertain: 0, uncertainKeys: [] };
    }
    return { line: line.line, given, uncertain: left, uncertainKeys: left > 0 ? unknown : [] };
  });
}

/** Integer parts of `total` in proportion to `weights`, by largest remainder. */
export function integerShares(weights: number[], total: number): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum <= 0) return weights.map((_, i) => (i === 0 ? total : 0));
  const exact = weights.map((w) => (w * total) / sum);
  const counts = exact.map(Math.floor);
  let left = total - counts.reduce((a, b) => a + b, 0);
  const order = exact.map((value, i) => [value - Math.floor(value), i] as const).sort((a, b) => b[0] - a[0]);
  for (const [, i] of order) {
    if (left <= 0) break;
    counts[i] = (counts[i] as number) + 1;
    left--;
  }
  return counts;
}
