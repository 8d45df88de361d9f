import type { CpuProfile } from "../sampler/cpu-profile.js";

/**
 * The part of a rolling window's profile from `fromMs` (wall clock) to its
 * end, pure. A loop blocked inside one native call cannot start a burst
 * profiler (starting one needs the target's main thread), but the rolling
 * profiler was already running and sampled the call: the window that ends
 * right after the block holds it whole, since no window can end while the
 * target does not answer. The profile's clock is V8's monotonic one; the
 * window's end in wall-clock time anchors it.
 *
 * Node ids and positions are kept (nodes no sample points at are harmless);
 * per-node hit counts and line ticks are left as V8 gave them for the whole
 * window, since nothing reads them from a slice.
 */
export function sliceProfile(profile: CpuProfile, window: { endMs: number }, fromMs: number): CpuProfile {
  const cutoffUs = profile.endTime - Math.max(0, window.endMs - fromMs) * 1_000;
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const keptSamples: number[] = [];
  const keptDeltas: number[] = [];
  let t = profile.startTime;
  let last = cutoffUs;
  for (let i = 0; i < samples.length; i++) {
    t += deltas[i] ?? 0;
    if (t < cutoffUs) continue;
    keptSamples.push(samples[i] as number);
    keptDeltas.push(t - last);
    last = t;
  }
  return { ...profile, startTime: Math.max(profile.startTime, cutoffUs), samples: keptSamples, timeDeltas: keptDeltas };
}
