import type { InspectorSession } from "../inspector/session.js";
import { withTimeout } from "../with-timeout.js";

/** One reading of the target's event loop since the previous one. */
export interface LoopReading {
  /** p99 and max of the event-loop delay, ms; 0 when the loop did not turn since the last reading. */
  p99Ms: number;
  maxMs: number;
  /** How long the loop has not turned at all, ms (a busy synchronous loop makes this grow). */
  stallMs: number;
  /**
   * False when the target did not answer in time: its main thread is inside one native call
   * (a synchronous child process, file read, zlib or crypto call) that runs no JavaScript
   * interrupt. Then p99Ms and maxMs are unknown (0) and stallMs is how long the request has
   * waited, a lower bound on how long the loop has not turned.
   */
  answered: boolean;
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

const UNANSWERED = Symbol("unanswered");

/**
 * The daemon's side of the event-loop monitor. Reading works even while the
 * target's JavaScript is busy in a synchronous loop: V8 runs inspector
 * commands from an interrupt, which is how a blocked loop is seen at all.
 * A native call runs no interrupt, so there the read itself goes unanswered,
 * and that says as much: an idle loop answers at once, so a read that waits
 * means the loop has not turned since it was sent (measured: a 2 s
 * execSync or pbkdf2Sync answers only when it returns, a regular
 * expression's backtracking at once).
 */
export class LoopMonitor {
  /** A read sent and not yet answered: the next read waits on it rather than queueing another. */
  private pending: { answer: Promise<EvaluateResult | undefined>; sentAtMs: number } | undefined;

  constructor(private readonly session: InspectorSession) {}

  async install(): Promise<void> {
    const result = await this.evaluate(INSTALL_EXPRESSION, 5_000);
    if (result.exceptionDetails) {
      const text = result.exceptionDetails.exception?.description ?? result.exceptionDetails.text ?? "exception";
      throw new Error(`cannot install the event-loop monitor: ${text.split("\n")[0] ?? text}`);
    }
  }

  /**
   * The loop since the last reading; `answered: false` when the target has not answered within
   * `timeoutMs`; undefined when the monitor is gone or the session failed.
   */
  async read(timeoutMs: number): Promise<LoopReading | undefined> {
    if (this.session.closed) return undefined;
    this.pending ??= { answer: this.request(READ_EXPRESSION).catch(() => undefined), sentAtMs: Date.now() };
    const pending = this.pending;
    let timer: NodeJS.Timeout | undefined;
    let result = await Promise.race([pending.answer, new Promise<typeof UNANSWERED>((resolve) => (timer = setTimeout(() => resolve(UNANSWERED), timeoutMs)))]);
    clearTimeout(timer);
    if (result === UNANSWERED) {
      // The answer may be waiting in our own socket, behind a busy turn of the daemon's loop:
      // let I/O run once before concluding anything about the target.
      await new Promise((resolve) => setImmediate(resolve));
      result = await Promise.race([pending.answer, Promise.resolve(UNANSWERED)]);
    }
    if (result === UNANSWERED) {
      if (this.session.closed) return undefined;
      return { p99Ms: 0, maxMs: 0, stallMs: Date.now() - pending.sentAtMs, answered: false };
    }
    this.pending = undefined;
    const value = result?.result?.value;
    if (!Array.isArray(value) || value.length !== 3 || !value.every((v) => typeof v === "number")) return undefined;
    const [p99Ms, maxMs, stallMs] = value as [number, number, number];
    return { p99Ms, maxMs, stallMs, answered: true };
  }

  async remove(): Promise<void> {
    if (this.session.closed) return;
    await this.evaluate(REMOVE_EXPRESSION, 2_000).catch(() => undefined);
  }

  private request(expression: string): Promise<EvaluateResult> {
    return this.session.send<EvaluateResult>("Runtime.evaluate", { expression, returnByValue: true, silent: true });
  }

  private evaluate(expression: string, timeoutMs: number): Promise<EvaluateResult> {
    return withTimeout(this.request(expression), timeoutMs, () => new Error(`no answer within ${timeoutMs} ms`));
  }
}
