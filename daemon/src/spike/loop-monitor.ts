import type { InspectorSession } from "../inspector/session.js";
import type { EvaluateReply } from "../in-target/evaluate.js";
import { answeredWithin, evaluateInTarget, sendToTarget, UNANSWERED } from "../in-target/evaluate.js";
import { readInstalled, removeInstalled } from "../in-target/installed.js";
import { IN_TARGET_KEYS } from "../in-target/keys.js";
import { installLoopMonitor } from "../in-target/loop-monitor.js";
import { inTargetExpression } from "../in-target/script.js";

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

/** The monitor removes itself when nobody has read it for this long: a daemon killed with SIGKILL leaves nothing running. */
export const ABANDONED_AFTER_MS = 10_000;

/** Installs the monitor in the target (in-target/loop-monitor.ts). */
export const INSTALL_EXPRESSION = inTargetExpression(installLoopMonitor, { key: IN_TARGET_KEYS.loopMonitor, abandonedAfterMs: ABANDONED_AFTER_MS });
export const READ_EXPRESSION = inTargetExpression(readInstalled, IN_TARGET_KEYS.loopMonitor);
export const REMOVE_EXPRESSION = inTargetExpression(removeInstalled, IN_TARGET_KEYS.loopMonitor);

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
  private pending: { answer: Promise<EvaluateReply | undefined>; sentAtMs: number } | undefined;

  constructor(private readonly session: InspectorSession) {}

  async install(): Promise<void> {
    await evaluateInTarget(this.session, INSTALL_EXPRESSION, "the event-loop monitor");
  }

  /**
   * The loop since the last reading; `answered: false` when the target has not answered within
   * `timeoutMs`; undefined when the monitor is gone or the session failed.
   */
  async read(timeoutMs: number): Promise<LoopReading | undefined> {
    if (this.session.closed) return undefined;
    this.pending ??= { answer: sendToTarget(this.session, READ_EXPRESSION).catch(() => undefined), sentAtMs: Date.now() };
    const pending = this.pending;
    let result = await answeredWithin(pending.answer, timeoutMs);
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
    await evaluateInTarget(this.session, REMOVE_EXPRESSION, "the event-loop monitor's removal", 2_000).catch(() => undefined);
  }
}
