import { createHash } from "node:crypto";

/**
 * What a failed store says about the message, and how ingest is doing. Pure: the ingestor
 * feeds it, readiness and the ingestor read it.
 *
 * A store fails for one of two reasons. The database is the problem (a lock held, a full disk,
 * a file that cannot be written): it passes, every message fails alike, and retrying later,
 * for as long as it lasts, loses nothing (JetStream keeps the messages). Or the message is the
 * problem (it decoded, but the store throws on it: a bug): it fails every time, and retrying
 * it forever would hold back the messages after it. So a message that fails for a reason of its
 * own is tried MAX_OWN_ATTEMPTS times, then dead-lettered; one that fails because of the
 * database is tried until it passes, and ingest reads as stuck meanwhile. While the database is
 * at fault, ingest pauses: the messages that come meanwhile are handed back without a try, so
 * that a held lock costs one busy wait (5 s) per pause, not one per message buffered.
 */

/** SQLite result codes (better-sqlite3's error.code) that say the database, not the message, is at fault. */
const DATABASE_AT_FAULT = /^SQLITE_(BUSY|LOCKED|FULL|IOERR|CANTOPEN|READONLY|NOMEM|PROTOCOL|INTERRUPT|PERM|AUTH|NOLFS)/;

export function isDatabaseAtFault(error: unknown): boolean {
  for (let cause: unknown = error; cause; cause = (cause as { cause?: unknown }).cause) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === "string" && DATABASE_AT_FAULT.test(code)) return true;
  }
  return false;
}

/** Tries of a message that fails for a reason of its own, before it is dead-lettered. */
export const MAX_OWN_ATTEMPTS = 3;
/** Delay before the next try: 5 s, doubling per try of the same message, at most a minute. */
export const retryDelayMs = (attempt: number): number => Math.min(5_000 * 2 ** Math.max(0, attempt - 1), 60_000);

/** A message's identity across redeliveries, which carry no id of their own: a digest of its subject and bytes. */
const keyOf = (subject: string, data: Uint8Array): string => createHash("sha256").update(subject).update("\u0000").update(data).digest("base64");

/** Failed messages remembered at once; past it the oldest is forgotten (and its count starts again). */
const REMEMBERED = 1_000;

export class StoreFailures {
  /** Tries per failing message, by keyOf. */
  private readonly attempts = new Map<string, number>();
  private failingSinceMs: number | undefined;
  private failuresSinceSettled = 0;
  private lastError = "";
  /** The database's failures in a row, and the end of the pause they call for. */
  private databaseFailures = 0;
  private pausedUntilMs = 0;

  /** How long ingest is still paused because the database is at fault (ms), or 0. */
  pausedFor(nowMs: number): number {
    return Math.max(0, this.pausedUntilMs - nowMs);
  }

  /** A message handed back without a try, during a pause: not stored either. */
  deferred(nowMs: number): void {
    this.failingSinceMs ??= nowMs;
    this.failuresSinceSettled++;
  }

  /** The database was at fault: ingest pauses, longer each time in a row (retryDelayMs); returns the pause. */
  databaseFailed(nowMs: number): number {
    this.databaseFailures++;
    const pauseMs = retryDelayMs(this.databaseFailures);
    this.pausedUntilMs = nowMs + pauseMs;
    return pauseMs;
  }

  /** Counts a failed try of this message; returns how many it has had. */
  failed(subject: string, data: Uint8Array, error: string, nowMs: number): number {
    const key = keyOf(subject, data);
    const attempt = (this.attempts.get(key) ?? 0) + 1;
    this.attempts.delete(key);
    this.attempts.set(key, attempt);
    if (this.attempts.size > REMEMBERED) this.attempts.delete(this.attempts.keys().next().value as string);
    this.failingSinceMs ??= nowMs;
    this.failuresSinceSettled++;
    this.lastError = error;
    return attempt;
  }

  /** A message was stored, or dropped for good: ingest moves. */
  settled(subject: string, data: Uint8Array): void {
    this.failingSinceMs = undefined;
    this.failuresSinceSettled = 0;
    this.databaseFailures = 0;
    this.pausedUntilMs = 0;
    if (this.attempts.size > 0) this.attempts.delete(keyOf(subject, data));
  }

  /** Why ingest is stuck (messages came, and for `afterMs` none could be stored), or undefined. */
  stuck(nowMs: number, afterMs: number): string | undefined {
    if (this.failingSinceMs === undefined || nowMs - this.failingSinceMs < afterMs) return undefined;
    const seconds = Math.round((nowMs - this.failingSinceMs) / 1_000);
    return `ingest is stuck: nothing stored for ${seconds} s, ${this.failuresSinceSettled} failed tries; last: ${this.lastError}`;
  }
}
