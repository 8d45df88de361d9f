import type { DeliveredMessage, ProfileWindow, SeismoEvent } from "@seismo/agent-proto";
import { decodeEvent, describeError, ErrorCodes, isSeismoError, parseSubject } from "@seismo/agent-proto";
import { databaseError } from "../store/database.js";
import type { EventStore } from "../store/event-store.js";

export interface IngestStats {
  received: number;
  windowsStored: number;
  duplicates: number;
  spikesStored: number;
  snapshotsStored: number;
  incidentsOpened: number;
  /** Messages that could never be read, by error code. */
  rejected: Record<string, number>;
  /** Messages handed back for redelivery (database busy, disk full). */
  retried: number;
}

export interface IngestLog {
  warn(message: string): void;
}

/**
 * Turns delivered messages into stored rows. A message is acked only after its
 * transaction commits; one that can never be read is counted, logged once per
 * kind of problem, kept in rejected_messages and dropped; one that fails for a
 * passing reason (a locked or full database) is handed back for redelivery.
 */
export class Ingestor {
  readonly stats: IngestStats = {
    received: 0,
    windowsStored: 0,
    duplicates: 0,
    spikesStored: 0,
    snapshotsStored: 0,
    incidentsOpened: 0,
    rejected: {},
    retried: 0,
  };
  private readonly loggedCodes = new Set<string>();
  private lastStoreError = "";

  constructor(
    private readonly store: EventStore,
    private readonly log: IngestLog,
    private readonly onEvent?: (event: SeismoEvent) => void,
    private readonly onIncident?: (incidentId: string) => void,
    /** Called with each window stored for the first time (not on redelivery). */
    private readonly onWindowStored?: (window: ProfileWindow) => void,
  ) {}

  readonly handle = (message: DeliveredMessage): void => {
    this.stats.received++;
    const receivedAt = Date.now();
    let event: SeismoEvent;
    try {
      const { kind } = parseSubject(message.subject);
      event = decodeEvent(message.data, kind);
    } catch (error) {
      this.reject(message, error, receivedAt);
      return;
    }
    try {
      this.persist(event, receivedAt);
    } catch (error) {
      this.stats.retried++;
      const text = describeError(isSeismoError(error) ? error : databaseError(this.store.path, error));
      if (text !== this.lastStoreError) {
        this.log.warn(`cannot store a ${event.kind} event, will retry: ${text}`);
        this.lastStoreError = text;
      }
      message.retry(5_000);
      return;
    }
    this.lastStoreError = "";
    message.ack();
    this.onEvent?.(event);
  };

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
  }

  private reject(message: DeliveredMessage, error: unknown, receivedAt: number): void {
    const code = isSeismoError(error) ? error.code : ErrorCodes.DECODE_MALFORMED;
    this.stats.rejected[code] = (this.stats.rejected[code] ?? 0) + 1;
    const reason = describeError(error);
    if (!this.loggedCodes.has(code)) {
      this.loggedCodes.add(code);
      this.log.warn(`dropped a message on ${message.subject}: ${reason} (further ${code} messages are counted, not logged)`);
    }
    try {
      this.store.recordRejected(message.subject, code, reason, message.data, receivedAt);
    } catch {
      // Keeping a copy is a courtesy; dropping the bad message is what matters.
    }
    message.reject(reason);
  }
}
