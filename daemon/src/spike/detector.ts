/**
 * Spike detection, pure: fed one reading of the target's vitals at a time, it
 * says when they rise far above the target's own recent level (learned, no
 * configuration) or above absolute ceilings, and when they come back down.
 */

export interface Vitals {
  atMs: number;
  /** Cores busy over the reading's interval (1.0 = one core); undefined when /proc does not show the target. */
  cpu: number | undefined;
  /** Event-loop delay p99 over the interval, ms; undefined when the monitor did not answer. */
  loopP99Ms: number | undefined;
  /** How long the event loop has not turned, ms. */
  stallMs: number | undefined;
  /**
   * Cores busy over that stall (not over the reading's interval): a loop computing uses a core,
   * one waiting in a native call almost none. Undefined when not known; then `cpu` stands in.
   */
  stallCpu?: number | undefined;
}

export type SpikeTriggerKind = "CPU" | "LOOP_DELAY" | "LOOP_BLOCKED";

export interface DetectorSettings {
  /** Readings kept to learn the normal level (at 2 readings/s, 240 = two minutes). */
  historyReadings: number;
  /**
   * Readings needed before CPU and loop delay count at all: an app that always
   * runs hot must not look like a spike the moment we attach. A blocked loop
   * counts from the first reading.
   */
  warmupReadings: number;
  /** CPU above this (cores) is a spike whatever the rise, unless the level is already near it. */
  cpuCeiling: number;
  /** A learned-level CPU spike must rise at least this much (cores)... */
  cpuMinRise: number;
  /** ...and to at least this multiple of the level. */
  cpuRatio: number;
  /** Loop-delay p99 must reach at least this (ms) and this multiple of its level. */
  loopMinMs: number;
  loopRatio: number;
  /** The event loop not turning for this long is a spike at once. */
  stallMs: number;
  /** CPU and loop delay must stay up this long before they count (a GC or a deploy blip does not). */
  sustainMs: number;
  /** Normal readings in a row that end an episode. */
  calmReadings: number;
}

export const DEFAULT_DETECTOR_SETTINGS: DetectorSettings = {
  historyReadings: 240,
  warmupReadings: 10,
  cpuCeiling: 0.9,
  cpuMinRise: 0.3,
  cpuRatio: 2,
  loopMinMs: 200,
  loopRatio: 5,
  stallMs: 1_000,
  sustainMs: 1_000,
  calmReadings: 2,
};

export interface SpikeSignal {
  trigger: SpikeTriggerKind;
  /** Start of the first elevated reading's interval. */
  onsetMs: number;
  atMs: number;
  cpu: number;
  baselineCpu: number;
  loopP99Ms: number;
  baselineLoopMs: number;
  stallMs: number;
}

export interface Episode {
  trigger: SpikeTriggerKind;
  onsetMs: number;
  /** undefined while it lasts */
  endedMs: number | undefined;
  peakCpu: number;
  peakLoopMs: number;
  maxStallMs: number;
  baselineCpu: number;
  baselineLoopMs: number;
}

export type Observation =
  | { kind: "normal" }
  | { kind: "rising" }
  /** A new episode: take a burst now. */
  | { kind: "spike"; signal: SpikeSignal }
  | { kind: "ongoing"; episode: Episode }
  | { kind: "ended"; episode: Episode };

export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export class SpikeDetector {
  private readonly cpuHistory: number[] = [];
  private readonly loopHistory: number[] = [];
  private risingSince: number | undefined;
  private lastAtMs: number | undefined;
  private episode: Episode | undefined;
  private calm = 0;

  constructor(private readonly settings: DetectorSettings = DEFAULT_DETECTOR_SETTINGS) {}

  /** The learned normal levels (medians of recent readings, spikes included: a spike that lasts minutes becomes the new normal). */
  levels(): { cpu: number; loopMs: number; readings: number } {
    return { cpu: median(this.cpuHistory), loopMs: median(this.loopHistory), readings: this.cpuHistory.length };
  }

  /** The episode under way, peaks so far; undefined between episodes. */
  currentEpisode(): Episode | undefined {
    return this.episode ? { ...this.episode } : undefined;
  }

  observe(vitals: Vitals): Observation {
    const s = this.settings;
    const intervalMs = this.lastAtMs === undefined ? 0 : vitals.atMs - this.lastAtMs;
    this.lastAtMs = vitals.atMs;
    const cpuLevel = median(this.cpuHistory);
    const cpuSpread = median(this.cpuHistory.map((v) => Math.abs(v - cpuLevel)));
    const loopLevel = median(this.loopHistory);
    const warm = this.cpuHistory.length >= s.warmupReadings;
    const cpu = vitals.cpu ?? 0;
    const loop = vitals.loopP99Ms ?? 0;
    const stall = vitals.stallMs ?? 0;

    const blocked = stall >= s.stallMs;
    const cpuHigh =
      vitals.cpu !== undefined &&
      warm &&
      ((cpu >= s.cpuCeiling && cpuLevel < s.cpuCeiling * 0.75) ||
        cpu >= Math.max(cpuLevel + Math.max(s.cpuMinRise, 4 * cpuSpread), cpuLevel * s.cpuRatio));
    const loopHigh = vitals.loopP99Ms !== undefined && warm && loop >= Math.max(s.loopMinMs, loopLevel * s.loopRatio);
    const elevated = blocked || cpuHigh || loopHigh;

    if (vitals.cpu !== undefined) push(this.cpuHistory, cpu, s.historyReadings);
    if (vitals.loopP99Ms !== undefined) push(this.loopHistory, loop, s.historyReadings);

    if (this.episode) {
      const episode = this.episode;
      // A blocked loop's peak is of the block: once it turns again, the app catches up on the
      // requests that queued meanwhile (measured: 0.50 cores after a 3.5 s synchronous child
      // process that used none), and that burst would make a wait read as computing. The reading
      // that first sees the loop turn again still reports the stall, and its interval holds the
      // catch-up too (a CI run read 0.68 cores so), hence the CPU over the stall, not the interval.
      if (episode.trigger !== "LOOP_BLOCKED") episode.peakCpu = Math.max(episode.peakCpu, cpu);
      else if (blocked) episode.peakCpu = Math.max(episode.peakCpu, vitals.stallCpu ?? cpu);
      episode.peakLoopMs = Math.max(episode.peakLoopMs, loop, stall);
      episode.maxStallMs = Math.max(episode.maxStallMs, stall);
      this.calm = elevated ? 0 : this.calm + 1;
      if (this.calm < s.calmReadings) return { kind: "ongoing", episode };
      episode.endedMs = vitals.atMs;
      this.episode = undefined;
      this.risingSince = undefined;
      return { kind: "ended", episode };
    }

    if (!elevated) {
      this.risingSince = undefined;
      return { kind: "normal" };
    }
    this.risingSince ??= vitals.atMs - intervalMs;
    const sustained = vitals.atMs - this.risingSince >= s.sustainMs;
    if (!blocked && !sustained) return { kind: "rising" };

    const trigger: SpikeTriggerKind = blocked ? "LOOP_BLOCKED" : cpuHigh ? "CPU" : "LOOP_DELAY";
    // A stalled loop started when it last turned, which may be before the first elevated reading.
    const onsetMs = blocked ? Math.min(this.risingSince, vitals.atMs - stall) : this.risingSince;
    const signal: SpikeSignal = {
      trigger,
      onsetMs,
      atMs: vitals.atMs,
      cpu,
      baselineCpu: cpuLevel,
      loopP99Ms: loop,
      baselineLoopMs: loopLevel,
      stallMs: stall,
    };
    this.episode = {
      trigger,
      onsetMs: signal.onsetMs,
      endedMs: undefined,
      peakCpu: blocked ? (vitals.stallCpu ?? cpu) : cpu,
      peakLoopMs: Math.max(loop, stall),
      maxStallMs: stall,
      baselineCpu: cpuLevel,
      baselineLoopMs: loopLevel,
    };
    this.calm = 0;
    return { kind: "spike", signal };
  }
}

function push(history: number[], value: number, max: number): void {
  history.push(value);
  if (history.length > max) history.shift();
}
