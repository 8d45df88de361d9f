import type { SeismoEvent } from "@seismo/agent-proto";
import { createInProcessCommands, createInProcessTransport } from "@seismo/agent-proto";
import type { TopResult } from "@seismo/analyzer";
import { Analyzer, getIncident, topFunctions } from "@seismo/analyzer";
import type { Logger, Sensor, SensorSettings } from "@seismo/daemon";
import { Daemon } from "@seismo/daemon";
import type { AnalysisSettings } from "./options.js";

export interface EmbeddedOptions {
  dbPath: string;
  pid: number;
  sampling: SensorSettings;
  /** Regression watch and webhook alerts (default: regressions watched, no webhook). */
  analysis?: AnalysisSettings;
  log: Logger;
  /** Called after each profile window is committed, with the last minute's top functions. */
  onTop?: (top: TopResult) => void;
}

export interface Embedded {
  sensor: Sensor;
  analyzer: Analyzer;
  /** Detaches (if still attached), delivers what is queued, closes the database. */
  shutdown(): Promise<void>;
}

const LIVE_PERIOD_MS = 60_000;

/**
 * Daemon and analyzer in one process, joined by the in-process transport: the
 * same daemon, sensor, outbox, ingest and SQLite store as the distributed set-up.
 */
export async function startEmbedded(options: EmbeddedOptions): Promise<Embedded> {
  const transport = createInProcessTransport();
  /** Incidents already reported: a regression is updated at later checks. */
  const reported = new Set<string>();
  const commands = createInProcessCommands();
  // Called only after start(), so the closure never sees `analyzer` uninitialized.
  const analyzer: Analyzer = new Analyzer({
    dbPath: options.dbPath,
    subscriber: transport.subscriber,
    log: options.log,
    ...(options.analysis?.webhook ? { webhook: options.analysis.webhook } : {}),
    ...(options.analysis ? { regressionWatch: options.analysis.regressionWatch } : {}),
    onEvent: (event: SeismoEvent): void => {
      if (event.kind === "profile" && options.onTop) {
        options.onTop(topFunctions(analyzer.db, { sinceMs: Date.now() - LIVE_PERIOD_MS, limit: 10 }));
      }
    },
    onIncident: (id: string): void => {
      const incident = getIncident(analyzer.db, id);
      if (reported.has(id)) return; // a later check of the same regression
      reported.add(id);
      options.log.warn(`incident ${id}: ${incident.summary} (details: seismo show ${id} --db ${options.dbPath})`);
    },
    // What was the culprit working on? The analyzer asks the sensor, through the same command
    // channel as across NATS, to capture its values on its next calls, without pausing the app.
    ...(options.analysis?.capture === false ? {} : { commands: commands.client }),
  });
  await analyzer.start();
  const daemon = await Daemon.start({ daemonId: "local", settings: options.sampling, publisher: transport.publisher, commands: commands.server, log: options.log });
  let sensor: Sensor;
  try {
    sensor = await daemon.attach({ pid: options.pid });
  } catch (error) {
    await daemon.stop();
    await analyzer.stop();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    sensor,
    analyzer,
    shutdown() {
      closing ??= (async () => {
        await daemon.stop(5_000);
        await analyzer.stop();
      })();
      return closing;
    },
  };
}
