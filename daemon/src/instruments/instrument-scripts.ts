import type { InspectorSession } from "../inspector/session.js";
import type { EvaluateReply } from "../in-target/evaluate.js";
import { answeredWithin, evaluateInTarget, sendToTarget, UNANSWERED } from "../in-target/evaluate.js";

/**
 * Evaluates an in-target instrument's scripts: install, read-and-reset, remove.
 *
 * A read that times out still runs in the target later (a loop blocked in a native call answers
 * when the call returns) and resets the instrument's aggregates there. So it is never sent twice: the
 * next read first waits for it, and hands its answer out with its own. No aggregate is lost.
 *
 * Never with the command-line API: V8 would evaluate inside a `with` scope, and every name the
 * instrument's closures use would become a dynamic lookup on the app's hot path.
 */
export class InstrumentScripts {
  /** A read sent and not answered in time: its answer, when it comes, belongs to the next read. */
  private pending: Promise<EvaluateReply | undefined> | undefined;

  constructor(
    private readonly session: InspectorSession,
    private readonly what: string,
  ) {}

  async install(expression: string): Promise<void> {
    await evaluateInTarget(this.session, expression, `the ${this.what}`);
  }

  /**
   * The values of the reads answered since the last call, oldest first: one, or two when a late
   * answer came in. Undefined when the target did not answer in time or the session is closed.
   */
  async read(expression: string, timeoutMs: number): Promise<unknown[] | undefined> {
    if (this.session.closed) return undefined;
    const late = this.pending ? await answeredWithin(this.pending, timeoutMs) : undefined;
    if (late === UNANSWERED) return undefined;
    const values = this.pending ? [late?.result?.value] : [];
    this.pending = sendToTarget(this.session, expression).catch(() => undefined);
    const answer = await answeredWithin(this.pending, timeoutMs);
    if (answer === UNANSWERED) return values.length > 0 ? values : undefined;
    this.pending = undefined;
    return [...values, answer?.result?.value];
  }

  /** A one-off call into the installed instrument; its value. */
  async evaluate(expression: string): Promise<unknown> {
    return evaluateInTarget(this.session, expression, `the ${this.what}`, 2_000);
  }

  async remove(expression: string): Promise<void> {
    if (this.session.closed) return;
    await evaluateInTarget(this.session, expression, `the ${this.what}'s removal`, 2_000).catch(() => undefined);
  }
}
