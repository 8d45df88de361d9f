import type { CommandClient, EventSubscriber, SeismoEvent } from "@seismo/agent-proto";
import { AutoCapture } from "./capture/auto-capture.js";
import { getIncident } from "./query/incidents.js";
import type { IngestLog, IngestStats } from "./ingest/ingestor.js";
import type { WebhookSettings } from "./alerts/webhook-alerts.js";
import { WebhookAlerts } from "./alerts/webhook-alerts.js";
import type { RegressionWatchSettings } from "./regressions/regression-watch.js";
import { DEFAULT_REGRESSION_WATCH, RegressionWatch } from "./regressions/regression-watch.js";
import { InlineCheckRunner, WorkerCheckRunner } from "./regressions/check-runner.js";
import { Ingestor } from "./ingest/ingestor.js";
import type { Db } from "./store/database.js";
import { openDatabase } from "./store/database.js";
import { EventStore } from "./store/event-store.js";

export interface AnalyzerOptions {
  dbPath: string;
  subscriber: EventSubscriber;
  /** Windows older than this are deleted (default 7 days). */
  retentionMs?: number;
  log: IngestLog & { info(message: string): void };
  onEvent?: (event: SeismoEvent) => void;
  /** Called when an incident is stored or updated (a regression at a later check), with its id. */
  onIncident?: (incidentId: string) => void;
  /**
   * Compare each new deployment with the previous one as its windows arrive, and open
   * regression incidents (default DEFAULT_REGRESSION_WATCH; false turns it off).
   */
  regressionWatch?: RegressionWatchSettings | false;
  /** Send each new incident to this webhook (once per incident, with a cool-down per culprit). */
  webhook?: WebhookSettings;
  /** Ask the culprit's daemon to capture its values when an incident opens (no capture without it). */
  commands?: CommandClient;
  /** Ingest reads as stuck when messages come and none could be stored for this long (default 30 s). */
  stuckAfterMs?: number;
}

/**
 * The analyzer's wiring: a subscriber feeding the ingestor, and a retention
 * sweep. Built and started by `seismo analyzer`, and in-process by `seismo run`.
 */
export class Analyzer {
  readonly db: Db;
  private readonly ingestor: Ingestor;
  private readonly store: EventStore;
  private retentionTimer: NodeJS.Timeout | undefined;
  private readonly alerts: WebhookAlerts | undefined;
  /** Undefined when the regression watch is off. */
  readonly regressions: RegressionWatch | undefined;

  constructor(private readonly options: AnalyzerOptions) {
    this.db = openDatabase(options.dbPath);
    this.store = new EventStore(this.db);
    const alerts = options.webhook ? new WebhookAlerts(this.db, options.webhook, options.log) : undefined;
    this.alerts = alerts;
    const autoCapture = options.commands ? new AutoCapture(this.db, options.commands, options.log) : undefined;
    const onIncident = (id: string): void => {
      options.onIncident?.(id);
      alerts?.notify(id);
      if (autoCapture) {
        try {
          void autoCapture.onIncident(getIncident(this.db, id));
        } catch (error) {
          options.log.warn(`no capture for ${id}: ${(error as Error).message}`);
        }
      }
    };
    this.regressions =
      options.regressionWatch === false
        ? undefined
        : new RegressionWatch(
            this.db,
            options.regressionWatch ?? DEFAULT_REGRESSION_WATCH,
            WorkerCheckRunner.create(options.dbPath) ?? new InlineCheckRunner(this.db),
            { onIncident, onError: (message) => options.log.warn(message), onChecked: (line) => options.log.info(line) },
          );
    const regressions = this.regressions;
    this.ingestor = new Ingestor(this.store, options.log, options.onEvent, onIncident, (window) => regressions?.onWindow(window));
  }

  get stats(): IngestStats {
    return this.ingestor.stats;
  }

  /** Why ingest is stuck (messages come, none could be stored for stuckAfterMs), or undefined: for readiness. */
  ingestStuck(): string | undefined {
    return this.ingestor.stuck(this.options.stuckAfterMs ?? 30_000);
  }

  async start(): Promise<void> {
    this.sweep();
    this.retentionTimer = setInterval(() => this.sweep(), 10 * 60_000);
    this.retentionTimer.unref();
    this.alerts?.resumePending();
    await this.options.subscriber.start(this.ingestor.handle);
  }

  async stop(): Promise<void> {
    clearInterval(this.retentionTimer);
    await this.options.subscriber.close();
    // Checks already queued finish first: their incidents belong to data already stored.
    await this.regressions?.close();
    await this.alerts?.stop();
    this.db.close();
  }

  private sweep(): void {
    const retentionMs = this.options.retentionMs ?? 7 * 86_400_000;
    try {
      const deleted = this.store.prune(Date.now() - retentionMs);
      if (deleted > 0) this.options.log.info(`retention: deleted ${deleted} window(s) older than ${Math.round(retentionMs / 3_600_000)} h`);
    } catch (error) {
      this.options.log.warn(`retention sweep failed: ${(error as Error).message}`);
    }
  }
}
