import type { SeismoEvent } from "@seismo/agent-proto";
import { createInProcessTransport } from "@seismo/agent-proto";
import type { TopResult } from "@seismo/analyzer";
import { Analyzer, getIncident, topFunctions } from "@seismo/analyzer";
import type { ActivateOptions, Logger } from "@seismo/daemon";
import { Outbox, Sensor } from "@seismo/daemon";
import type { SamplingSettings } from "./options.js";

export interface EmbeddedOptions {
  dbPath: string;
  pid: number;
  sampling: SamplingSettings;
  log: Logger;
  activate?: ActivateOptions;
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
 * same sensor, outbox, ingest and SQLite store as the distributed set-up.
 */
export async function startEmbedded(options: EmbeddedOptions): Promise<Embedded> {
  const transport = createInProcessTransport();
  // Called only after start(), so the closure never sees `analyzer` uninitialized.
  const analyzer: Analyzer = new Analyzer({
    dbPath: options.dbPath,
    subscriber: transport.subscriber,
    log: options.log,
    onEvent: (event: SeismoEvent): void => {
      if (event.kind === "profile" && options.onTop) {
        options.onTop(topFunctions(analyzer.db, { sinceMs: Date.now() - LIVE_PERIOD_MS, limit: 10 }));
      }
    },
    onIncident: (id: string): void => {
      options.log.warn(`incident ${id}: ${getIncident(analyzer.db, id).summary} (details: seismo show ${id} --db ${options.dbPath})`);
    },
  });
  await analyzer.start();
  const outbox = new Outbox(transport.publisher, options.log);
  let sensor: Sensor;
  try {
    sensor = await Sensor.attach({
      pid: options.pid,
      service: options.sampling.service,
      deployment: options.sampling.deployment,
      daemonId: "local",
      samplingIntervalUs: options.sampling.samplingIntervalUs,
      windowMs: options.sampling.windowMs,
      recompileOnAttach: options.sampling.recompileOnAttach,
      spikes: options.sampling.spikes,
      heartbeatMs: 30_000,
      outbox,
      log: options.log,
      ...(options.activate ? { activate: options.activate } : {}),
    });
  } catch (error) {
    await analyzer.stop();
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    sensor,
    analyzer,
    shutdown() {
      closing ??= (async () => {
        await sensor.stop();
        await outbox.close(5_000);
        await analyzer.stop();
      })();
      return closing;
    },
  };
}
