import type { BlockedTarget, OutboxStats } from "@seismo/daemon";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import { followTotal } from "./follow-total.js";

/** What the daemon's metrics are read from, at each scrape. */
export interface DaemonMetricsSource {
  attached: () => number;
  blocked: () => BlockedTarget[];
  outbox: () => OutboxStats;
  capturesArmed: () => number;
  attachFailures: () => number;
}

/** The daemon's Prometheus metrics (names prefixed seismo_daemon_). */
export class DaemonMetrics {
  readonly registry = new Registry();
  readonly windows: Counter;
  readonly bursts: Counter;
  readonly snapshots: Counter;
  /** What one capture cost the target's thread. */
  readonly captureSeconds: Histogram;
  /** Pauses Seismo causes in a target: the recompile on attach. */
  readonly pauseSeconds: Histogram;

  constructor(source: DaemonMetricsSource) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: "seismo_daemon_process_" });
    this.windows = new Counter({ name: "seismo_daemon_windows_published_total", help: "Profile windows published", registers });
    this.bursts = new Counter({ name: "seismo_daemon_bursts_total", help: "High-resolution spike profiles taken", registers });
    this.snapshots = new Counter({ name: "seismo_daemon_snapshots_total", help: "Forensic snapshots published", registers });
    this.captureSeconds = new Histogram({
      name: "seismo_daemon_capture_seconds",
      help: "Time one capture took on the target's thread",
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01],
      registers,
    });
    this.pauseSeconds = new Histogram({
      name: "seismo_daemon_pause_seconds",
      help: "Pauses Seismo caused in a target (the recompile of optimized code on attach)",
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5],
      registers,
    });
    new Gauge({ name: "seismo_daemon_targets_attached", help: "Node processes attached now", registers, collect() { this.set(source.attached()); } });
    new Gauge({
      name: "seismo_daemon_targets_blocked",
      help: "Node processes that cannot be attached (their options forbid the inspector, or it did not open), by error code",
      labelNames: ["code"],
      registers,
      collect() {
        this.reset();
        for (const blocked of source.blocked()) this.inc({ code: blocked.code });
      },
    });
    new Gauge({ name: "seismo_daemon_outbox_buffered_messages", help: "Events waiting for the broker", registers, collect() { this.set(source.outbox().buffered); } });
    new Gauge({ name: "seismo_daemon_captures_armed", help: "Capture probes armed now", registers, collect() { this.set(source.capturesArmed()); } });
    followTotal(this.registry, "seismo_daemon_publish_failures_total", "Publishes the broker refused or did not answer (retried)", () => source.outbox().publishFailures);
    followTotal(this.registry, "seismo_daemon_events_dropped_total", "Events dropped because the buffer was full while the broker was away", () => source.outbox().dropped);
    followTotal(this.registry, "seismo_daemon_attach_failures_total", "Attaches that failed", source.attachFailures);
  }
}
