/**
 * Statistics the comparisons share: a seeded random source, the weighted median, the grouped
 * bootstrap resample, the normal quantile and the standard deviation. Pure.
 */

/** Small, fast, seeded PRNG (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** The value below and above which half of the weight lies. */
export function weightedMedian(values: number[], weights: number[]): number {
  const order = values.map((_, i) => i).sort((x, y) => (values[x] as number) - (values[y] as number));
  const half = weights.reduce((s, w) => s + w, 0) / 2;
  let seen = 0;
  for (const i of order) {
    seen += weights[i] as number;
    if (seen >= half) return values[i] as number;
  }
  return Number.NaN;
}

/** Window indices by process. */
export function groupsOf(windows: ReadonlyArray<{ group?: string | undefined }>): Uint32Array[] {
  const byGroup = new Map<string, number[]>();
  windows.forEach((w, i) => {
    const list = byGroup.get(w.group ?? "") ?? [];
    list.push(i);
    byGroup.set(w.group ?? "", list);
  });
  return [...byGroup.values()].map((list) => Uint32Array.from(list));
}

/**
 * One bootstrap resample: processes drawn with replacement, then windows drawn with replacement
 * within each drawn process. With several processes a side, the interval so includes how much the
 * same code differs from one process to the next; with one, it can only include the noise between
 * windows.
 */
export function resample(groups: Uint32Array[], next: () => number): Uint32Array {
  const drawn: number[] = [];
  for (let g = 0; g < groups.length; g++) {
    const group = groups[Math.floor(next() * groups.length)] as Uint32Array;
    for (let i = 0; i < group.length; i++) drawn.push(group[Math.floor(next() * group.length)] as number);
  }
  return Uint32Array.from(drawn);
}

/** Φ⁻¹(p) for 0 < p < 1 (Acklam's rational approximation, relative error below 1.2e-9). */
export function normalQuantile(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const poly = (k: number[], x: number): number => k.reduce((acc, v) => acc * x + v, 0);
  if (p < 0.02425) {
    const q = Math.sqrt(-2 * Math.log(p));
    return poly(c, q) / (poly(d, q) * q + 1);
  }
  if (p > 1 - 0.02425) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (poly(a, r) * q) / (poly(b, r) * r + 1);
}

/** Standard deviation of the finite values. */
export function spread(values: number[]): number {
  const finite = values.filter(Number.isFinite);
  if (finite.length < 2) return Number.NaN;
  const mean = finite.reduce((s, v) => s + v, 0) / finite.length;
  return Math.sqrt(finite.reduce((s, v) => s + (v - mean) ** 2, 0) / (finite.length - 1));
}
