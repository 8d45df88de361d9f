import type { IngestStats } from "@seismo/analyzer";
import { collectDefaultMetrics, Registry } from "prom-client";
import { followTotal } from "./follow-total.js";

/** The analyzer's Prometheus metrics (names prefixed seismo_analyzer_), read from its ingest counts at each scrape. */
export function analyzerMetrics(stats: () => IngestStats): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "seismo_analyzer_process_" });
  followTotal(registry, "seismo_analyzer_messages_received_total", "Messages received from the broker", () => stats().received);
  followTotal(registry, "seismo_analyzer_windows_stored_total", "Profile windows stored", () => stats().windowsStored);
  followTotal(registry, "seismo_analyzer_duplicates_total", "Redelivered messages stored once", () => stats().duplicates);
  followTotal(registry, "seismo_analyzer_spikes_stored_total", "Spike events stored", () => stats().spikesStored);
  followTotal(registry, "seismo_analyzer_snapshots_stored_total", "Forensic snapshots stored", () => stats().snapshotsStored);
  followTotal(registry, "seismo_analyzer_incidents_opened_total", "Incidents opened (spikes and regressions)", () => stats().incidentsOpened);
  followTotal(registry, "seismo_analyzer_retried_total", "Messages handed back for redelivery (database busy or full)", () => stats().retried);
  followTotal(registry, "seismo_analyzer_rejected_total", "Messages that could never be read, by error code", () => 0, () => stats().rejected);
  return registry;
}
