/**
 * Every error Seismo raises on purpose carries a stable `code` from this list.
 * Codes are part of the public contract (scripts match on them); they are
 * documented in docs/errors.md and never renamed.
 */
export const ErrorCodes = {
  /** Command-line words that do not parse. */
  USAGE: "SEISMO_USAGE",
  /** No process with that pid. */
  TARGET_NOT_FOUND: "SEISMO_TARGET_NOT_FOUND",
  /** The pid is not a Node.js process. */
  TARGET_NOT_NODE: "SEISMO_TARGET_NOT_NODE",
  /** Not allowed to signal or inspect the process (other user, no shared PID namespace). */
  TARGET_NOT_PERMITTED: "SEISMO_TARGET_NOT_PERMITTED",
  /** The target's inspector cannot be opened (--disable-sigusr1, --permission, ...). */
  INSPECTOR_BLOCKED: "SEISMO_INSPECTOR_BLOCKED",
  /** The inspector would listen, or listens, beyond loopback: refused. */
  INSPECTOR_NOT_LOOPBACK: "SEISMO_INSPECTOR_NOT_LOOPBACK",
  /** The inspector did not open in time after SIGUSR1. */
  INSPECTOR_TIMEOUT: "SEISMO_INSPECTOR_TIMEOUT",
  /** The port the target's inspector would open on is taken (another process has it): not signalled. */
  INSPECTOR_PORT_TAKEN: "SEISMO_INSPECTOR_PORT_TAKEN",
  /** The inspector answered, but the process behind it is not the one asked for. */
  TARGET_IDENTITY_MISMATCH: "SEISMO_TARGET_IDENTITY_MISMATCH",
  /** The inspector connection failed or a protocol command was rejected. */
  INSPECTOR_PROTOCOL: "SEISMO_INSPECTOR_PROTOCOL",
  /** Bytes that are not a valid Seismo event. */
  DECODE_MALFORMED: "SEISMO_DECODE_MALFORMED",
  /** A message larger than the size limit. */
  MESSAGE_TOO_LARGE: "SEISMO_MESSAGE_TOO_LARGE",
  /** The subject is not a Seismo v1 subject, or disagrees with the message. */
  SUBJECT_INVALID: "SEISMO_SUBJECT_INVALID",
  /** The NATS broker cannot be reached. */
  BROKER_UNREACHABLE: "SEISMO_BROKER_UNREACHABLE",
  /** Publishing to the broker failed (after retries). */
  PUBLISH_FAILED: "SEISMO_PUBLISH_FAILED",
  /** The SQLite database cannot be opened or written. */
  DATABASE: "SEISMO_DATABASE",
  /**
   * A message that decoded but that the database refused each time it was tried, for a reason of
   * its own (not a busy, full or unwritable database): kept in rejected_messages and dropped.
   */
  STORE_REFUSED: "SEISMO_STORE_REFUSED",
  /** The database was written by a newer Seismo. */
  DATABASE_TOO_NEW: "SEISMO_DATABASE_TOO_NEW",
  /** An id (incident, ...) that the database does not hold. */
  NOT_FOUND: "SEISMO_NOT_FOUND",
  /** A command to a daemon got no answer in time, or arrived after its deadline. */
  COMMAND_TIMEOUT: "SEISMO_COMMAND_TIMEOUT",
  /** A fault in Seismo itself: something failed that no other code describes (a bug to report). */
  INTERNAL: "SEISMO_INTERNAL",
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface SeismoErrorOptions {
  cause?: unknown;
  /** What the user can do about it, in one sentence. */
  hint?: string;
}

export class SeismoError extends Error {
  override readonly name = "SeismoError";
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: SeismoErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
  }

  /** One line for a terminal: what went wrong and what to do. */
  toLine(): string {
    return this.hint ? `${this.message} ${this.hint} [${this.code}]` : `${this.message} [${this.code}]`;
  }
}

/** The stable code of anything thrown: its own when Seismo raised it, SEISMO_INTERNAL otherwise. */
export function errorCodeOf(error: unknown): ErrorCode {
  return error instanceof SeismoError ? error.code : ErrorCodes.INTERNAL;
}

export function isSeismoError(value: unknown, code?: ErrorCode): value is SeismoError {
  return value instanceof SeismoError && (code === undefined || value.code === code);
}

/** The message of anything thrown, for logs. */
export function describeError(error: unknown): string {
  if (error instanceof SeismoError) return error.toLine();
  if (error instanceof Error) return error.message;
  return String(error);
}
