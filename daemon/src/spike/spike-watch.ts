import type { BurstProfile, Spike, SpikeTrigger, TargetRef } from "@seismo/agent-proto";
import { describeError } from "@seismo/agent-proto";
import type { InspectorSession } from "../inspector/session.js";
import type { Logger } from "../logger.js";
import type { PackageVersionLookup } from "../sampler/aggregate.js";
import type { CpuProfile } from "../sampler/cpu-profile.js";
import type { CpuMeter } from "../target/cpu-meter.js";
import { takeBurst } from "./burst.js";
import type { SourceLineLookup } from "./burst-profile.js";
import { toBurstProfile } from "./burst-profile.js";
import type { DetectorSettings, Episode, SpikeSignal } from "./detector.js";
import { DEFAULT_DETECTOR_SETTINGS, SpikeDetector } from "./detector.js";
import { LoopMonitor } from "./loop-monitor.js";
import { sliceProfile } from "./window-slice.js";

export interface SpikeSettings {
  /** Burst sampling interval, µs (default 500). */
  burstIntervalUs: number;
  /** Burst length, ms (default 2000). */
  burstDurationMs: number;
  /** No new burst sooner than this after the previous one ended, ms (default 60 s). */
  cooldownMs: number;
  /** How often the vitals are read, ms (default 500). */
  tickMs: number;
  detector?: Partial<DetectorSettings>;
}

export const DEFAULT_SPIKE_SETTINGS: SpikeSettings = { burstIntervalUs: 500, burstDurationMs: 2_000, cooldownMs: 60_000, tickMs: 500 };

export interface SpikeWatchDeps {
  target: TargetRef;
  /** The sensor's own session: vitals are read over it. */
  session: InspectorSession;
  /** Opens a second session on the same inspector, for a burst. */
  openBurstSession: () => Promise<InspectorSession>;
  cpu: CpuMeter;
  /** Ends the current profile window now (so one window covers the burst exactly). */
  rotateWindow: () => Promise<void>;
  /** The newest rolling window (raw) that covers this moment, if still kept. */
  windowCovering: (atMs: number) => { profile: CpuProfile; startMs: number; endMs: number } | undefined;
  /** The rolling windows' sampling interval, µs. */
  windowIntervalUs: number;
  publish: (spike: Spike, messageId: string) => void;
  versionOf: PackageVersionLookup;
  /** The profile with inlined functions' time given back to them (the sensor's de-inlining); identity when off. */
  attributed?: (profile: CpuProfile) => CpuProfile;
  /** The burst at the code people wrote (source maps); identity when there are none. */
  located?: (burst: BurstProfile) => BurstProfile;
  sourceLine: SourceLineLookup;
  log: Logger;
}

export interface SpikeWatchStats {
  bursts: number;
  /** Spikes seen while a burst ran or during the cool-down: no burst taken. */
  suppressed: number;
  burstErrors: number;
  /** Spikes where the loop was blocked inside a native call: profiled from the rolling window instead. */
  nativeBlocks: number;
}

/**
 * Watches one target's vitals (CPU from /proc, event-loop delay and stall from
 * a monitor installed in the target), and on a spike takes a bounded
 * high-resolution burst profile and publishes it as a Spike event. At most one
 * burst at a time, then a cool-down, so a sustained spike cannot keep the
 * target at high sampling.
 */
export class SpikeWatch {
  readonly stats: SpikeWatchStats = { bursts: 0, suppressed: 0, burstErrors: 0, nativeBlocks: 0 };
  private readonly detector: SpikeDetector;
  private readonly monitor: LoopMonitor;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private stopped = false;
  private cooldownUntil = 0;
  private burst: Promise<void> | undefined;
  private readonly abort = new AbortController();
  private sequence = 0;
  /** The spike published for the current episode, awaiting its end. */
  private open: Spike | undefined;
  /** The last episode the detector saw end, so a burst that outlasts its spike can say so. */
  private lastEnded: Episode | undefined;

  constructor(
    private readonly deps: SpikeWatchDeps,
    private readonly settings: SpikeSettings = DEFAULT_SPIKE_SETTINGS,
  ) {
    this.detector = new SpikeDetector({ ...DEFAULT_DETECTOR_SETTINGS, ...settings.detector });
    this.monitor = new LoopMonitor(deps.session);
  }

  /** False when the event-loop monitor could not be installed (CPU alone is watched then). */
  loopWatched = false;

  async start(): Promise<void> {
    try {
      await this.monitor.install();
      this.loopWatched = true;
    } catch (error) {
      // CPU alone still finds spikes; say what is missing.
      this.deps.log.warn(`event-loop delay will not be watched for pid ${this.deps.target.pid}: ${describeError(error)}`);
    }
    this.deps.cpu.read();
    this.timer = setInterval(() => void this.tick(), this.settings.tickMs);
    this.timer.unref();
  }

  /**
   * Stops watching, cuts a running burst short, and removes the monitor from
   * the target, unless the target is on its way out (`targetExiting`): then
   * nothing more is asked of its JavaScript, and the monitor, unref'd, goes
   * with the process.
   */
  async stop(targetExiting = false): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    this.abort.abort();
    await this.burst;
    if (!targetExiting) await this.monitor.remove();
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.stopped) return;
    this.ticking = true;
    try {
      const loop = await this.monitor.read(Math.max(200, this.settings.tickMs - 100));
      const cpu = this.deps.cpu.read()?.cpu;
      const loopP99Ms = loop?.answered ? loop.p99Ms : undefined;
      const stallCpu = loop && loop.stallMs > 0 ? this.deps.cpu.coresOver(loop.stallMs) : undefined;
      const observation = this.detector.observe({ atMs: Date.now(), cpu, loopP99Ms, stallMs: loop?.stallMs, stallCpu });
      if (observation.kind === "spike") this.onSpike(observation.signal, loop?.answered === false);
      else if (observation.kind === "ended") this.onEnded(observation.episode);
    } finally {
      this.ticking = false;
    }
  }

  private onSpike(signal: SpikeSignal, inNativeCall: boolean): void {
    if (this.burst || Date.now() < this.cooldownUntil) {
      this.stats.suppressed++;
      return;
    }
    const run = inNativeCall ? this.runFromWindow(signal) : this.runBurst(signal);
    this.burst = run.finally(() => {
      this.burst = undefined;
    });
  }

  private async runBurst(signal: SpikeSignal): Promise<void> {
    const { deps, settings } = this;
    deps.log.info(
      `spike on pid ${deps.target.pid} (${describeSignal(signal)}): taking a ${settings.burstDurationMs} ms profile at ${settings.burstIntervalUs} µs`,
    );
    await deps.rotateWindow().catch(() => undefined);
    const burstStartMs = Date.now();
    let profile: Spike["profile"];
    let burstError = "";
    try {
      const raw = await takeBurst(deps.openBurstSession, {
        intervalUs: settings.burstIntervalUs,
        durationMs: settings.burstDurationMs,
        signal: this.abort.signal,
      });
      profile = this.publishable(raw);
      this.stats.bursts++;
    } catch (error) {
      this.stats.burstErrors++;
      burstError = describeError(error);
      deps.log.warn(`burst profile of pid ${deps.target.pid} failed: ${burstError}`);
    }
    const burstEndMs = Date.now();
    if (profile) {
      deps.log.info(
        `burst profile of pid ${deps.target.pid} done: ${profile.samples.length} samples in ${burstEndMs - burstStartMs} ms; ` +
          `its session is closed, no new burst for ${Math.round(settings.cooldownMs / 1_000)} s`,
      );
    }
    await this.publishSpike(signal, { profile, burstError, burstStartMs, burstEndMs, intervalUs: settings.burstIntervalUs });
  }

  /**
   * The loop is blocked inside one native call: a burst could start only once the call returns,
   * and would profile what comes after. The rolling profiler sampled the call itself, so once the
   * target answers again (the call is over), the window that ends then is the spike's profile,
   * from shortly before the onset. Waits no longer than the watch runs.
   */
  /** A raw profile as it goes on the wire: de-inlined, framed, at the code people wrote. */
  private publishable(raw: CpuProfile): BurstProfile {
    const deps = this.deps;
    const burst = toBurstProfile(deps.attributed?.(raw) ?? raw, { versionOf: deps.versionOf, sourceLine: deps.sourceLine });
    return deps.located?.(burst) ?? burst;
  }

  private async runFromWindow(signal: SpikeSignal): Promise<void> {
    const { deps, settings } = this;
    deps.log.info(
      `spike on pid ${deps.target.pid} (${describeSignal(signal)}, inside a native call): its profile will come from the rolling window once the call returns`,
    );
    const aborted = new Promise<void>((resolve) => this.abort.signal.addEventListener("abort", () => resolve(), { once: true }));
    await Promise.race([deps.rotateWindow().catch(() => undefined), aborted]);
    if (this.stopped) return;
    // The block began at most one reading before the first unanswered read was sent.
    const fromMs = signal.onsetMs - settings.tickMs;
    const window = deps.windowCovering(signal.onsetMs);
    let profile: Spike["profile"];
    let burstError = "";
    if (window) {
      const slice = sliceProfile(window.profile, window, fromMs);
      profile = this.publishable(slice);
      this.stats.nativeBlocks++;
      deps.log.info(`profile of pid ${deps.target.pid}'s native call: ${profile.samples.length} samples from the rolling window`);
    } else {
      burstError = "The loop was blocked inside a native call, and no rolling window covering it was kept.";
      this.stats.burstErrors++;
    }
    await this.publishSpike(signal, {
      profile,
      burstError,
      burstStartMs: Math.max(fromMs, window?.startMs ?? fromMs),
      burstEndMs: window?.endMs ?? Date.now(),
      intervalUs: deps.windowIntervalUs,
    });
  }

  private async publishSpike(
    signal: SpikeSignal,
    taken: { profile: Spike["profile"]; burstError: string; burstStartMs: number; burstEndMs: number; intervalUs: number },
  ): Promise<void> {
    const { deps, settings } = this;
    const { profile, burstError, burstStartMs, burstEndMs } = taken;
    const spikeId = `${deps.target.targetId}:spike:${++this.sequence}`;
    this.cooldownUntil = Date.now() + settings.cooldownMs;
    if (!this.stopped) await deps.rotateWindow().catch(() => undefined);
    const ongoing = this.detector.currentEpisode();
    const ended = this.lastEnded?.onsetMs === signal.onsetMs ? this.lastEnded : undefined;
    const episode = ongoing?.onsetMs === signal.onsetMs ? ongoing : ended;
    const spike: Spike = {
      spikeId,
      target: deps.target,
      trigger: signal.trigger as SpikeTrigger,
      onsetMs: Math.round(signal.onsetMs),
      detectedMs: Math.round(signal.atMs),
      burstStartMs,
      burstEndMs,
      endedMs: ended?.endedMs ?? 0,
      peakCpu: episode?.peakCpu ?? signal.cpu,
      baselineCpu: signal.baselineCpu,
      peakLoopDelayMs: episode?.peakLoopMs ?? Math.max(signal.loopP99Ms, signal.stallMs),
      baselineLoopDelayMs: signal.baselineLoopMs,
      maxStallMs: episode?.maxStallMs ?? signal.stallMs,
      samplingIntervalUs: taken.intervalUs,
      profile,
      burstError,
    };
    // Over already: the end rides on this message. Otherwise it follows when the detector sees calm.
    this.open = ended ? undefined : spike;
    deps.publish(spike, `${spikeId}:burst`);
  }

  private onEnded(episode: Episode): void {
    this.lastEnded = episode;
    const spike = this.open;
    if (!spike || spike.onsetMs !== Math.round(episode.onsetMs)) return;
    this.open = undefined;
    this.deps.publish(
      {
        ...spike,
        endedMs: Math.round(episode.endedMs ?? Date.now()),
        peakCpu: episode.peakCpu,
        peakLoopDelayMs: episode.peakLoopMs,
        maxStallMs: episode.maxStallMs,
        profile: undefined,
      },
      `${spike.spikeId}:end`,
    );
  }
}

function describeSignal(signal: SpikeSignal): string {
  if (signal.trigger === "LOOP_BLOCKED") return `event loop blocked for ${Math.round(signal.stallMs)} ms`;
  if (signal.trigger === "LOOP_DELAY") return `event-loop delay p99 ${Math.round(signal.loopP99Ms)} ms, normally ${Math.round(signal.baselineLoopMs)} ms`;
  return `CPU ${signal.cpu.toFixed(2)} cores, normally ${signal.baselineCpu.toFixed(2)}`;
}
