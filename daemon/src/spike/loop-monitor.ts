import type { InspectorSession } from "../inspector/session.js";
import { withTimeout } from "../with-timeout.js";

/** One reading of the target's event loop since the previous one. */
export interface LoopReading {
  /** p99 and max of the event-loop delay, ms; 0 when the loop did not turn since the last reading. */
  p99Ms: number;
  maxMs: number;
  /** How long the loop has not turned at all, ms (a busy synchronous loop makes this grow). */
  stallMs: number;
}

const KEY = 'Symbol.for("seismo.loopMonitor.v1")';

/** The monitor removes itself when nobody has read it for this long: a daemon killed with SIGKILL leaves nothing running. */
export const ABANDONED_AFTER_MS = 10_000;

/**
 * Installs, in the target, a perf_hooks event-loop-delay histogram and a
 * 100 ms heartbeat timer, both unref'd so they never keep the process alive.
 * Idempotent: a second install (a re-attach) reuses the first. The histogram's
 * 20 ms resolution means 50 native timer wake-ups a second and no JavaScript;
 * a delay spike starts at 200 ms, so finer would buy nothing.
 */
export const INSTALL_EXPRESSION = `(() => {
  const key = ${KEY};
  if (globalThis[key]) return "present";
  const { monitorEventLoopDelay, performance } = process.getBuiltinModule("node:perf_hooks");
  const histogram = monitorEventLoopDelay({ resolution: 20 });
  histogram.enable();
  let lastTurn = performance.now();
  let lastRead = performance.now();
  const remove = () => { clearInterval(timer); histogram.disable(); delete globalThis[key]; };
  const timer = setInterval(() => {
    lastTurn = performance.now();
    if (lastTurn - lastRead > ${ABANDONED_AFTER_MS}) remove();
  }, 100);
  timer.unref();
  const monitor = {
    read() {
      const now = performance.now();
      lastRead = now;
      const reading = [histogram.count ? histogram.percentile(99) / 1e6 : 0, histogram.count ? histogram.max / 1e6 : 0, now - lastTurn];
      histogram.reset();
      return reading;
    },
    remove,
  };
  Object.defineProperty(globalThis, key, { value: monitor, configurable: true, enumerable: false, writable: true });
  return "installed";
})()`;

export const READ_EXPRESSION = `(() => { const m = globalThis[${KEY}]; return m ? m.read() : null; })()`;
export const REMOVE_EXPRESSION = `(() => { const m = globalThis[${KEY}]; if (m) m.remove(); return Boolean(m); })()`;

interface EvaluateResult {
  result?: { value?: unknown };
  exceptionDetails?: { text?: string; exception?: { description?: string } };
}

/**
 * The daemon's side of the event-loop monitor. Reading works even while the
 * target's JavaScript is busy in a synchronous loop: V8 runs inspector
 * commands from an interrupt, which is how a blocked loop is seen at all.
 */
export class LoopMonitor {
  constructor(private readonly session: InspectorSession) {}

  async install(): Promise<void> {
    const result = await this.evaluate(INSTALL_EXPRESSION, 5_000);
    if (result.exceptionDetails) {
      const text = result.exceptionDetails.exception?.description ?? result.exceptionDetails.text ?? "exception";
      throw new Error(`cannot install the event-loop monitor: ${text.split("\n")[0] ?? text}`);
    }
  }

  /** Undefined when the monitor is gone or the target does not answer in time. */
  async read(timeoutMs: number): Promise<LoopReading | undefined> {
    const result = await this.evaluate(READ_EXPRESSION, timeoutMs).catch(() => undefined);
    const value = result?.result?.value;
    if (!Array.isArray(value) || value.length !== 3 || !value.every((v) => typeof v === "number")) return undefined;
    const [p99Ms, maxMs, stallMs] = value as [number, number, number];
    return { p99Ms, maxMs, stallMs };
  }

  async remove(): Promise<void> {
    if (this.session.closed) return;
    await this.evaluate(REMOVE_EXPRESSION, 2_000).catch(() => undefined);
  }

  private evaluate(expression: string, timeoutMs: number): Promise<EvaluateResult> {
    return withTimeout(
      this.session.send<EvaluateResult>("Runtime.evaluate", { expression, returnByValue: true, silent: true }),
      timeoutMs,
      () => new Error(`no answer within ${timeoutMs} ms`),
    );
  }
}
