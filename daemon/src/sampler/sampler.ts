import type { InspectorSession } from "../inspector/session.js";
import type { CpuProfile } from "./cpu-profile.js";

export interface SamplerOptions {
  /** V8 sampling interval, µs. 10 ms costs nothing measurable; 1 ms costs ~10–15 %. */
  intervalUs: number;
  /** Length of one window, ms. Bounded so Profiler.stop never serializes a huge profile on the target's thread. */
  windowMs: number;
}

export interface RawWindow {
  sequence: number;
  startMs: number;
  endMs: number;
  profile: CpuProfile;
}

export type WindowListener = (window: RawWindow) => void;

/**
 * Rolling CPU profile windows: start, and every windowMs send Profiler.stop and
 * Profiler.start back to back (pipelined, so the gap is one message hop on the
 * target), handing each finished profile to the listener.
 */
export class Sampler {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private sequence = 0;
  private windowStartMs = 0;
  private rotation: Promise<void> = Promise.resolve();

  constructor(
    private readonly session: InspectorSession,
    private readonly options: SamplerOptions,
    private readonly onWindow: WindowListener,
    private readonly onError: (error: unknown) => void,
  ) {}

  get windowsTaken(): number {
    return this.sequence;
  }

  async start(): Promise<void> {
    await this.session.send("Profiler.enable");
    await this.session.send("Profiler.setSamplingInterval", { interval: this.options.intervalUs });
    await this.session.send("Profiler.start");
    this.windowStartMs = Date.now();
    this.running = true;
    this.schedule();
  }

  /** Ends the current window now (its profile is delivered) and starts the next. */
  rotate(): Promise<void> {
    this.rotation = this.rotation.then(() => this.rotateNow(true));
    return this.rotation;
  }

  /** Stops sampling; the last, partial window is delivered. Leaves the profiler disabled. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.timer);
    await this.rotation;
    try {
      await this.rotateNow(false);
    } finally {
      await this.session.send("Profiler.disable").catch(() => undefined);
    }
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      void this.rotate().finally(() => {
        if (this.running) this.schedule();
      });
    }, this.options.windowMs);
    this.timer.unref();
  }

  private async rotateNow(restart: boolean): Promise<void> {
    if (this.session.closed) return;
    try {
      const stopped = this.session.send<{ profile: CpuProfile }>("Profiler.stop");
      const restarted = restart ? this.session.send("Profiler.start") : Promise.resolve();
      const { profile } = await stopped;
      const endMs = Date.now();
      const startMs = this.windowStartMs;
      this.windowStartMs = endMs;
      await restarted;
      this.onWindow({ sequence: this.sequence++, startMs, endMs, profile });
    } catch (error) {
      if (!this.session.closed) this.onError(error);
    }
  }
}
