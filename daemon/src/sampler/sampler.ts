import { randomBytes } from "node:crypto";
import { ErrorCodes, SeismoError } from "@seismo/agent-proto";
import { runProfilerCommand } from "../in-target/evaluate.js";
import type { InspectorSession } from "../inspector/session.js";
import { withTimeout } from "../with-timeout.js";
import type { CpuProfile } from "./cpu-profile.js";

export interface SamplerOptions {
  /** V8 sampling interval, µs. 10 ms costs nothing measurable; 1 ms costs ~10–15 %. */
  intervalUs: number;
  /** Length of one window, ms. Bounded so that ending a window never serializes a huge profile on the target's thread. */
  windowMs: number;
  /**
   * Recompile the target's optimized code once profiling has started. V8 records
   * where inlined functions sit only in code compiled while a profiler runs, so
   * without this a function optimized before we attached charges everything it
   * inlined to itself (the caller, not the culprit). Costs one pause (measured:
   * 5 ms on a small app, 36 ms with the TypeScript compiler loaded) and a short
   * re-warm-up.
   */
  recompile: boolean;
}

export interface RawWindow {
  sequence: number;
  startMs: number;
  endMs: number;
  profile: CpuProfile;
}

export type WindowListener = (window: RawWindow) => void;

/** Round trips of window rotations: the sensor's moments on the target's thread, plus the socket. */
export interface RotationStats {
  count: number;
  medianMs: number;
  maxMs: number;
}

const KEPT_ROTATIONS = 1_000;

interface ConsoleProfileFinished {
  title?: string;
  profile: CpuProfile;
}

/**
 * Rolling CPU profile windows.
 *
 * Each window is a console profile started and ended over the inspector with
 * the command-line API's profile()/profileEnd(), which the app's own console
 * cannot shadow. Windows overlap by one instruction, `profile(next);
 * profileEnd(current)`, for a reason: V8's inspector disposes its CpuProfiler
 * whenever no profile is running, and with it the code map that knows which
 * functions were inlined where. Profiler.stop + Profiler.start would pass
 * through zero at every window and (measured on Node 24) charge every inlined
 * function to its caller from the second window on.
 */
export class Sampler {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;
  private sequence = 0;
  private windowStartMs = 0;
  private rotation: Promise<void> = Promise.resolve();
  private readonly titlePrefix = `seismo-${randomBytes(4).toString("hex")}-`;
  private readonly finished = new Map<string, (profile: CpuProfile) => void>();
  private readonly rotationMs: number[] = [];
  private rotations = 0;

  constructor(
    private readonly session: InspectorSession,
    private readonly options: SamplerOptions,
    private readonly onWindow: WindowListener,
    private readonly onError: (error: unknown) => void,
  ) {
    session.on("Profiler.consoleProfileFinished", (params) => {
      const { title, profile } = params as ConsoleProfileFinished;
      const resolve = title === undefined ? undefined : this.finished.get(title);
      if (resolve) {
        this.finished.delete(title as string);
        resolve(profile);
      }
    });
  }

  /** Over the last 1,000 rotations (bounded memory), and the count over the whole session. */
  rotationStats(): RotationStats {
    const sorted = [...this.rotationMs].sort((x, y) => x - y);
    return {
      count: this.rotations,
      medianMs: sorted.length ? (sorted[Math.floor((sorted.length - 1) / 2)] as number) : 0,
      maxMs: sorted.at(-1) ?? 0,
    };
  }

  /** Starts sampling; resolves with the recompile pause as seen from here (ms), or undefined when skipped. */
  async start(): Promise<number | undefined> {
    // The interval before enable, as in takeBurst: once enabled, any console.profile() in the
    // target (the app's own, or another Seismo session's) starts profiling here too, and a
    // profiling session refuses a new interval.
    await this.session.send("Profiler.setSamplingInterval", { interval: this.options.intervalUs });
    await this.session.send("Profiler.enable");
    await this.evaluate(`profile(${JSON.stringify(this.title(0))})`);
    let recompileMs: number | undefined;
    if (this.options.recompile) {
      // Switching to precise coverage makes V8 deoptimize every function; switching straight
      // back lets them re-optimize, now with inlining positions recorded.
      const started = performance.now();
      await this.session.send("Profiler.startPreciseCoverage", { callCount: false, detailed: false });
      await this.session.send("Profiler.stopPreciseCoverage");
      recompileMs = performance.now() - started;
    }
    this.windowStartMs = Date.now();
    this.running = true;
    this.schedule();
    return recompileMs;
  }

  /** Ends the current window now (its profile is delivered) and starts the next. */
  rotate(): Promise<void> {
    this.rotation = this.rotation.then(() => this.rotateNow(true));
    return this.rotation;
  }

  /**
   * Stops sampling. Leaves no profile running and the profiler disabled. The
   * last, partial window is delivered unless `deliverLast` is false: ending a
   * console profile needs a call into the target's JavaScript, which a Node 20
   * process that is shutting down answers with a segmentation fault (see
   * Sensor). Profiler.disable ends it safely, without a profile.
   */
  async stop(deliverLast = true): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.halt();
    await this.rotation;
    try {
      if (deliverLast) await this.rotateNow(false);
    } finally {
      // Disabling also ends any console profile of ours still running.
      await this.session.send("Profiler.disable").catch(() => undefined);
    }
  }

  /** No more rotations from now on (a scheduled one is cancelled); stop() still ends the profile. */
  halt(): void {
    this.running = false;
    clearTimeout(this.timer);
  }

  private title(sequence: number): string {
    return `${this.titlePrefix}${sequence}`;
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

  private evaluate(expression: string): Promise<void> {
    return runProfilerCommand(this.session, expression);
  }

  private async rotateNow(restart: boolean): Promise<void> {
    // Once halted, nothing starts a new profile: the target may be exiting.
    if (this.session.closed || (restart && !this.running)) return;
    const current = this.title(this.sequence);
    const next = this.title(this.sequence + 1);
    const profileArrives = new Promise<CpuProfile>((resolve) => this.finished.set(current, resolve));
    try {
      const started = performance.now();
      await this.evaluate(
        restart ? `profile(${JSON.stringify(next)}); profileEnd(${JSON.stringify(current)})` : `profileEnd(${JSON.stringify(current)})`,
      );
      const profile = await withTimeout(
        profileArrives,
        15_000,
        () => new SeismoError(ErrorCodes.INSPECTOR_PROTOCOL, "No profile arrived within 15000 ms."),
      );
      this.rotations++;
      this.rotationMs.push(performance.now() - started);
      if (this.rotationMs.length > KEPT_ROTATIONS) this.rotationMs.shift();
      const endMs = Date.now();
      const startMs = this.windowStartMs;
      this.windowStartMs = endMs;
      this.onWindow({ sequence: this.sequence++, startMs, endMs, profile });
    } catch (error) {
      this.finished.delete(current);
      if (!this.session.closed) this.onError(error);
    }
  }
}
