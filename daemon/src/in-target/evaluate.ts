import { ErrorCodes, SeismoError } from "@seismo/agent-proto";
import type { InspectorSession } from "../inspector/session.js";
import { withTimeout } from "../with-timeout.js";

/** What Runtime.evaluate answers. */
export interface EvaluateReply {
  result?: { value?: unknown };
  exceptionDetails?: { text?: string; exception?: { description?: string } };
}

/**
 * The one way an expression of Seismo's reaches the target: by value, silently (no pause on
 * exceptions), and never with the command-line API, which would evaluate inside a `with` scope
 * and make every name the installed closures use a dynamic lookup on the app's hot path.
 */
export function sendToTarget(session: InspectorSession, expression: string): Promise<EvaluateReply> {
  return session.send<EvaluateReply>("Runtime.evaluate", { expression, returnByValue: true, silent: true });
}

/** What answeredWithin gives when the answer did not come in time (it may still come later). */
export const UNANSWERED = Symbol("unanswered");

/**
 * The answer, or UNANSWERED after `timeoutMs`, without giving the answer up: a target busy in a
 * native call answers when the call returns, and the caller decides what that late answer is for.
 */
export async function answeredWithin<T>(answer: Promise<T>, timeoutMs: number): Promise<T | typeof UNANSWERED> {
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([answer, new Promise<typeof UNANSWERED>((resolve) => (timer = setTimeout(() => resolve(UNANSWERED), timeoutMs)))]);
  clearTimeout(timer);
  return result;
}

/** The first line of the exception an expression threw in the target, if it threw. */
export function thrownIn(reply: EvaluateReply): string | undefined {
  if (!reply.exceptionDetails) return undefined;
  const text = reply.exceptionDetails.exception?.description ?? reply.exceptionDetails.text ?? "exception";
  return text.split("\n")[0] ?? text;
}

/**
 * Evaluates in the target and gives the value; what it threw, or no answer within `timeoutMs`,
 * is an INSPECTOR_PROTOCOL error saying what failed (`what`: "the HTTP instrument").
 */
export async function evaluateInTarget(session: InspectorSession, expression: string, what: string, timeoutMs = 5_000): Promise<unknown> {
  const reply = await withTimeout(sendToTarget(session, expression), timeoutMs, () => new SeismoError(ErrorCodes.INSPECTOR_PROTOCOL, `The target did not answer for ${what} within ${timeoutMs} ms.`));
  const thrown = thrownIn(reply);
  if (thrown !== undefined) throw new SeismoError(ErrorCodes.INSPECTOR_PROTOCOL, `The target refused ${what}: ${thrown}.`);
  return reply.result?.value;
}

/**
 * The one exception: the console profiler's `profile(title)` and `profileEnd(title)`, which
 * exist only in the command-line API. These expressions install nothing, so the `with` scope
 * costs the app nothing after they return.
 */
export async function runProfilerCommand(session: InspectorSession, expression: string): Promise<void> {
  const reply = await session.send<EvaluateReply>("Runtime.evaluate", { expression, includeCommandLineAPI: true, silent: true, returnByValue: true });
  const thrown = thrownIn(reply);
  if (thrown !== undefined) throw new SeismoError(ErrorCodes.INSPECTOR_PROTOCOL, `The target refused a profiler command: ${thrown}.`);
}
