import type { EventSubscriber, SeismoEvent } from "@seismo/agent-proto";
import type { IngestLog, IngestStats } from "./ingest/ingestor.js";
import type { RegressionWatchSettings } from "./baseline/regression-watch.js";
import { RegressionWatch } from "./baseline/regression-watch.js";
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
   * regression incidents. Off unless given (e.g. DEFAULT_REGRESSION_WATCH): on real processes
   * the comparison is not yet trustworthy (see the issue notes: function shares of identical
   * code differ between processes by more than the window-level confidence interval admits).
   */
  regressionWatch?: RegressionWatchSettings;
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

  constructor(private readonly options: AnalyzerOptions) {
    this.db = openDatabase(options.dbPath);
    this.store = new EventStore(this.db);
    const regressions = options.regressionWatch ? new RegressionWatch(this.db, options.regressionWatch) : undefined;
    this.ingestor = new Ingestor(this.store, options.log, options.onEvent, options.onIncident, (window) => {
      const id = regressions?.onWindow(window);
      if (id) options.onIncident?.(id);
    });
  }

  get stats(): IngestStats {
    return this.ingestor.stats;
  }

  async start(): Promise<void> {
    this.sweep();
    this.retentionTimer = setInterval(() => this.sweep(), 10 * 60_000);
    this.retentionTimer.unref();
    await this.options.subscriber.start(this.ingestor.handle);
  }

  async stop(): Promise<void> {
    clearInterval(this.retentionTimer);
    await this.options.subscriber.close();
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
