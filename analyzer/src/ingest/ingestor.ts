import type { DeliveredMessage, ProfileWindow, SeismoEvent } from "@seismo/agent-proto";
import { decodeEvent, describeError, ErrorCodes, isSeismoError, parseSubject } from "@seismo/agent-proto";
import { databaseError } from "../store/database.js";
import type { EventStore } from "../store/event-store.js";
import { isDatabaseAtFault, MAX_OWN_ATTEMPTS, retryDelayMs, StoreFailures } from "./store-failures.js";

export interface IngestStats {
  received: number;
  windowsStored: number;
  duplicates: number;
  spikesStored: number;
  snapshotsStored: number;
  /** Failed and slow requests kept (RequestExemplar events). */
  requestsStored: number;
  incidentsOpened: number;
  /** Messages that could never be read, or never stored (SEISMO_STORE_REFUSED), by error code. */
  rejected: Record<string, number>;
  /** Messages handed back for redelivery (database busy, disk full, or a message's own failure before its last try). */
  retried: number;
}

export interface IngestLog {
  warn(message: string): void;
}

/**
 * Turns delivered messages into stored rows. A message is acked only after its
 * transaction commits; one that can never be read is counted, logged once per
 * kind of problem, kept in rejected_messages and dropped; one that fails for a
 * passing reason (a locked or full database) is handed back for redelivery for
 * as long as it lasts; one the store refuses for a reason of its own is tried
 * three times, then dead-lettered the same way (see store-failures.ts).
 */
export class Ingestor {
  readonly stats: IngestStats = {
    received: 0,
    windowsStored: 0,
    duplicates: 0,
    spikesStored: 0,
    snapshotsStored: 0,
    requestsStored: 0,
    incidentsOpened: 0,
    rejected: {},
    retried: 0,
  };
  private readonly loggedCodes = new Set<string>();
  private lastStoreError = "";
  private readonly failures = new StoreFailures();

  constructor(
    private readonly store: EventStore,
    private readonly log: IngestLog,
    private readonly onEvent?: (event: SeismoEvent) => void,
    private readonly onIncident?: (incidentId: string) => void,
    /** Called with each window stored for the first time (not on redelivery). */
    private readonly onWindowStored?: (window: ProfileWindow) => void,
    private readonly now: () => number = Date.now,
  ) {}

  readonly handle = (message: DeliveredMessage): void => {
    this.stats.received++;
    const receivedAt = this.now();
    let event: SeismoEvent;
    try {
      const { kind } = parseSubject(message.subject);
      event = decodeEvent(message.data, kind);
    } catch (error) {
      this.reject(message, error, receivedAt);
      return;
    }
    const pausedMs = this.failures.pausedFor(receivedAt);
    if (pausedMs > 0) {
      this.stats.retried++;
      this.failures.deferred(receivedAt);
      message.retry(pausedMs);
      return;
    }
    try {
      this.persist(event, receivedAt);
    } catch (error) {
      this.storeFailed(message, event, error, receivedAt);
      return;
    }
    this.lastStoreError = "";
    this.failures.settled(message.subject, message.data);
    message.ack();
    this.onEvent?.(event);
  };

  /** Why ingest is stuck (nothing could be stored for `afterMs` while messages came), or undefined. */
  stuck(afterMs: number, nowMs = this.now()): string | undefined {
    return this.failures.stuck(nowMs, afterMs);
  }

  private storeFailed(message: DeliveredMessage, event: SeismoEvent, error: unknown, receivedAt: number): void {
    const databaseAtFault = isDatabaseAtFault(error);
    const text = databaseAtFault ? describeError(databaseError(this.store.path, error)) : bugText(error);
    const attempt = this.failures.failed(message.subject, message.data, text, receivedAt);
    if (!databaseAtFault && attempt >= MAX_OWN_ATTEMPTS) {
      const reason = `storing this ${event.kind} event failed ${attempt} times, not because of the database: ${text}`;
      if (this.drop(message, ErrorCodes.STORE_REFUSED, reason, receivedAt, message.data.length)) return;
    }
    this.stats.retried++;
    const delayMs = databaseAtFault ? this.failures.databaseFailed(receivedAt) : retryDelayMs(attempt);
    if (text !== this.lastStoreError) {
      this.log.warn(`cannot store a ${event.kind} event (try ${attempt}${databaseAtFault ? "" : ` of ${MAX_OWN_ATTEMPTS}`}), will retry in ${delayMs / 1_000} s: ${text}`);
      this.lastStoreError = text;
    }
    message.retry(delayMs);
  }

  private persist(event: SeismoEvent, receivedAt: number): void {
    switch (event.kind) {
      case "hello":
        this.store.recordHello(event.body, receivedAt);
        break;
      case "heartbeat":
        this.store.recordHeartbeat(event.body, receivedAt);
        break;
      case "goodbye":
        this.store.recordGoodbye(event.body, receivedAt);
        break;
      case "profile":
        if (this.store.recordWindow(event.body, receivedAt) === "stored") {
          this.stats.windowsStored++;
          this.afterWindow(event.body);
        } else this.stats.duplicates++;
        break;
      case "snapshot":
        if (this.store.recordSnapshot(event.body, receivedAt)) this.stats.snapshotsStored++;
        else this.stats.duplicates++;
        break;
      case "request":
        if (this.store.recordRequest(event.body, receivedAt)) this.stats.requestsStored++;
        else this.stats.duplicates++;
        break;
      case "spike": {
        const outcome = this.store.recordSpike(event.body, receivedAt);
        if (outcome.kind === "duplicate") this.stats.duplicates++;
        if (outcome.kind === "stored") this.stats.spikesStored++;
        if (outcome.kind === "stored" && outcome.incidentId) {
          this.stats.incidentsOpened++;
          this.onIncident?.(outcome.incidentId);
        }
        break;
      }
    }
  }

  /** Work that follows a stored window (regression checks) must never cost the window itself. */
  private afterWindow(window: ProfileWindow): void {
    try {
      this.onWindowStored?.(window);
    } catch (error) {
      this.log.warn(`after storing window ${window.windowId}: ${describeError(error)}`);
    }
    // Spikes that had no busy window before them are judged against the ones that follow.
    try {
      for (const incidentId of this.store.spikes.judgePending(window.endMs)) {
        this.stats.incidentsOpened++;
        this.onIncident?.(incidentId);
      }
    } catch (error) {
      this.log.warn(`judging pending spikes after window ${window.windowId}: ${describeError(error)}`);
    }
  }

  private reject(message: DeliveredMessage, error: unknown, receivedAt: number): void {
    const code = isSeismoError(error) ? error.code : ErrorCodes.DECODE_MALFORMED;
    this.drop(message, code, describeError(error), receivedAt);
  }

  /**
   * Drops a message for good, with a copy in rejected_messages (its first 4 KiB, or `keepBytes`).
   * A message that decoded is dropped only once its copy is kept: false when that failed (the
   * database is at fault after all), and the message is then retried instead.
   */
  private drop(message: DeliveredMessage, code: string, reason: string, receivedAt: number, keepBytes?: number): boolean {
    try {
      this.store.recordRejected(message.subject, code, reason, message.data, receivedAt, undefined, keepBytes);
    } catch {
      // Keeping a copy of unreadable bytes is a courtesy; dropping them is what matters.
      if (keepBytes !== undefined) return false;
    }
    this.stats.rejected[code] = (this.stats.rejected[code] ?? 0) + 1;
    if (!this.loggedCodes.has(code)) {
      this.loggedCodes.add(code);
      this.log.warn(`dropped a message on ${message.subject}: ${reason} (further ${code} messages are counted, not logged)`);
    }
    this.failures.settled(message.subject, message.data);
    message.reject(reason);
    return true;
  }
}

/** A failure that is not the database's, as a bug report needs it: its kind, message and where it was thrown. */
function bugText(error: unknown): string {
  if (!(error instanceof Error) || isSeismoError(error)) return describeError(error);
  const at = error.stack?.split("\n").find((line) => line.trim().startsWith("at "))?.trim();
  return `${error.name}: ${error.message}${at ? ` (${at})` : ""}`;
}
