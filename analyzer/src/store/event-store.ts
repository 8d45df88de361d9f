import type { Goodbye, Heartbeat, Hello, ProfileWindow, RequestExemplar, Snapshot, Spike, TargetRef } from "@seismo/agent-proto";
import { pruneRequests, recordRequest } from "../requests/request-store.js";
import { mergeEndpointStats } from "@seismo/agent-proto";
import type Database from "better-sqlite3";
import { pruneSnapshots, recordSnapshot } from "../capture/snapshot-store.js";
import type { SpikeOutcome } from "../spike/spike-store.js";
import { SpikeStore } from "../spike/spike-store.js";
import type { Db } from "./database.js";

export type WindowOutcome = "stored" | "duplicate";

/** Where a function is declared, in which package version: stable across windows and processes. */
export function functionIdentity(f: { scriptUrl: string; name: string; line: number; column: number; packageVersion: string; calledBy?: string }): string {
  const base = `${f.scriptUrl}\u0000${f.name}\u0000${f.line}\u0000${f.column}\u0000${f.packageVersion}`;
  // A native function is one row per JavaScript caller (writev from the app, writev from a logger).
  return f.calledBy ? `${base}\u0000${f.calledBy}` : base;
}

/**
 * Writes decoded events. Every method is one transaction, and storing the same
 * window twice is a no-op: the transport may redeliver after a crash between
 * commit and ack.
 */
export class EventStore {
  private readonly statements: ReturnType<typeof prepare>;
  private readonly functionIds = new Map<string, number>();
  private readonly generatedAt = new Map<number, string>();
  readonly spikes: SpikeStore;

  constructor(private readonly db: Db) {
    this.statements = prepare(db);
    this.spikes = new SpikeStore(db);
  }

  /** The database file, for error messages. */
  get path(): string {
    return this.db.name;
  }

  recordHello(hello: Hello, receivedAtMs: number): void {
    this.db.transaction(() => {
      this.ensureTarget(hello.target, receivedAtMs);
      this.statements.hello.run({
        targetId: hello.target.targetId,
        nodeVersion: hello.nodeVersion,
        v8Version: hello.v8Version,
        argv: JSON.stringify(hello.argv),
        seismoVersion: hello.seismoVersion,
        processStartMs: hello.processStartMs,
        attachedAtMs: hello.attachedAtMs,
        samplingIntervalUs: hello.samplingIntervalUs,
        windowMs: hello.windowMs,
      });
    })();
  }

  recordHeartbeat(heartbeat: Heartbeat, receivedAtMs: number): void {
    this.db.transaction(() => {
      this.ensureTarget(heartbeat.target, receivedAtMs);
      this.statements.heartbeat.run({
        targetId: heartbeat.target.targetId,
        targetCpu: heartbeat.targetCpu,
        rss: heartbeat.targetRssBytes,
        windowsPublished: heartbeat.windowsPublished,
        publishFailures: heartbeat.publishFailures,
        dropped: heartbeat.messagesDropped,
      });
    })();
  }

  recordGoodbye(goodbye: Goodbye, receivedAtMs: number): void {
    this.db.transaction(() => {
      this.ensureTarget(goodbye.target, receivedAtMs);
      this.statements.goodbye.run({
        targetId: goodbye.target.targetId,
        at: goodbye.atMs,
        reason: goodbye.reason,
        detail: goodbye.detail,
        warning: goodbye.inspectorWarning ? 1 : 0,
      });
    })();
  }

  recordWindow(window: ProfileWindow, receivedAtMs: number): WindowOutcome {
    return this.db.transaction((): WindowOutcome => {
      this.ensureTarget(window.target, receivedAtMs);
      const inserted = this.statements.insertWindow.run({
        windowId: window.windowId,
        targetId: window.target.targetId,
        service: window.target.service,
        deployment: window.target.deployment,
        sequence: window.sequence,
        startMs: window.startMs,
        endMs: window.endMs,
        intervalUs: window.samplingIntervalUs,
        totalSamples: window.totalSamples,
        cpuUs: window.cpuUs,
        idleUs: window.idleUs,
        gcUs: window.gcUs,
        programUs: window.programUs,
        truncated: window.truncatedFunctions,
        sensorUs: window.sensorUs,
        requestsNotKept: window.requestsNotKept ?? 0,
        receivedAtMs,
      });
      if (inserted.changes === 0) return "duplicate";
      const windowRef = Number(inserted.lastInsertRowid);
      for (const f of window.functions) {
        this.statements.insertWindowFunction.run({
          windowRef,
          functionId: this.functionId(f),
          selfSamples: f.selfSamples,
          totalSamples: f.totalSamples,
          selfUs: f.selfUs,
          totalUs: f.totalUs,
          hotLines: JSON.stringify(f.hotLines.map((h) => [h.line, h.samples])),
          inlinedSamples: f.inlinedSamples ?? 0,
          uncertainSamples: f.uncertainSamples ?? 0,
          inlineCandidates: JSON.stringify(f.inlineCandidates ?? []),
        });
      }
      const http = [
        ...mergeEndpointStats(window.endpoints ?? []).map((e) => ({ ...e, direction: "in", host: "" })),
        ...mergeEndpointStats(window.outgoing ?? []).map((e) => ({ ...e, direction: "out" })),
        ...mergeEndpointStats(window.queries ?? []).map((e) => ({ ...e, direction: "db" })),
      ];
      for (const e of http) {
        this.statements.insertWindowEndpoint.run({
          windowRef,
          direction: e.direction,
          host: e.host,
          method: e.method,
          route: e.route,
          status: e.status,
          template: e.routeTemplate ? 1 : 0,
          count: e.count,
          totalMs: e.totalMs,
          maxMs: e.maxMs,
          buckets: JSON.stringify(e.bucketIndexes.map((b, i) => [b, e.bucketCounts[i] ?? 0])),
          sampledEvery: Math.max(1, e.sampledEvery ?? 1),
        });
      }
      return "stored";
    })();
  }

  /** A spike, and the incident its burst profile makes, in one transaction. */
  /** Stores a snapshot once; false for a redelivery. */
  recordSnapshot(snapshot: Snapshot, receivedAtMs: number): boolean {
    return recordSnapshot(this.db, snapshot, receivedAtMs);
  }

  /** Stores a kept request once (with its target, when this is the first the analyzer hears of it); false for a redelivery. */
  recordRequest(request: RequestExemplar, receivedAtMs: number): boolean {
    return this.db.transaction(() => {
      this.ensureTarget(request.target, receivedAtMs);
      return recordRequest(this.db, request, receivedAtMs);
    })();
  }

  recordSpike(spike: Spike, receivedAtMs: number): SpikeOutcome {
    return this.db.transaction((): SpikeOutcome => {
      this.ensureTarget(spike.target, receivedAtMs);
      return this.spikes.record(spike, receivedAtMs);
    })();
  }

  /** Keeps a copy of a message that is dropped: its first `headBytes` (4 KiB), in the last `keep` such rows. */
  recordRejected(subject: string, code: string, reason: string, data: Uint8Array, receivedAtMs: number, keep = 1_000, headBytes = 4_096): void {
    this.db.transaction(() => {
      this.statements.insertRejected.run({
        at: receivedAtMs,
        subject: subject.slice(0, 512),
        code,
        reason: reason.slice(0, 1_000),
        size: data.length,
        head: Buffer.from(data.subarray(0, headBytes)),
      });
      this.statements.trimRejected.run({ keep });
    })();
  }

  /** Deletes windows that ended before the cutoff, then targets left with nothing. Returns windows deleted. */
  prune(cutoffMs: number): number {
    return this.db.transaction(() => {
      const deleted = this.statements.pruneWindows.run({ cutoffMs }).changes;
      this.statements.pruneTargets.run({ cutoffMs });
      this.statements.pruneRejected.run({ cutoffMs });
      this.statements.pruneAlerts.run({ cutoffMs });
      this.spikes.prune(cutoffMs);
      pruneSnapshots(this.db, cutoffMs);
      pruneRequests(this.db, cutoffMs);
      return deleted;
    })();
  }

  private ensureTarget(target: TargetRef, seenAtMs: number): void {
    this.statements.upsertTarget.run({
      targetId: target.targetId,
      daemonId: target.daemonId,
      service: target.service,
      deployment: target.deployment,
      pid: target.pid,
      host: target.host,
      pod: target.pod,
      namespace: target.namespace,
      seenAtMs,
    });
  }

  private functionId(f: ProfileWindow["functions"][number]): number {
    const identity = functionIdentity(f);
    const cached = this.functionIds.get(identity);
    if (cached !== undefined) {
      this.noteGenerated(cached, f);
      return cached;
    }
    this.statements.insertFunction.run({
      identity,
      name: f.name,
      scriptUrl: f.scriptUrl,
      filePath: f.filePath,
      line: f.line,
      col: f.column,
      packageName: f.packageName || null,
      packageVersion: f.packageName ? f.packageVersion || null : null,
      calledBy: f.calledBy ?? "",
    });
    const row = this.statements.functionByIdentity.get({ identity }) as { function_id: number };
    if (this.functionIds.size > 200_000) this.functionIds.clear();
    this.functionIds.set(identity, row.function_id);
    this.noteGenerated(row.function_id, f);
    return row.function_id;
  }

  /** Keeps where V8 last ran a source-mapped function (a rebuild moves it; its identity stays). */
  private noteGenerated(functionId: number, f: ProfileWindow["functions"][number]): void {
    if (!f.generatedFile) return;
    const at = `${f.generatedFile}:${f.generatedLine}:${f.generatedColumn}`;
    if (this.generatedAt.get(functionId) === at) return;
    this.statements.updateGenerated.run({ functionId, file: f.generatedFile, line: f.generatedLine, column: f.generatedColumn });
    if (this.generatedAt.size > 200_000) this.generatedAt.clear();
    this.generatedAt.set(functionId, at);
  }
}

function prepare(db: Db) {
  const p = (sql: string): Database.Statement => db.prepare(sql);
  return {
    upsertTarget: p(`
      INSERT INTO targets (target_id, daemon_id, service, deployment, pid, host, pod, namespace, last_seen_ms)
      VALUES (@targetId, @daemonId, @service, @deployment, @pid, @host, @pod, @namespace, @seenAtMs)
      ON CONFLICT(target_id) DO UPDATE SET last_seen_ms = MAX(last_seen_ms, excluded.last_seen_ms)`),
    hello: p(`
      UPDATE targets SET node_version = @nodeVersion, v8_version = @v8Version, argv = @argv, seismo_version = @seismoVersion,
        process_start_ms = @processStartMs, attached_at_ms = @attachedAtMs, sampling_interval_us = @samplingIntervalUs,
        window_ms = @windowMs, ended_at_ms = NULL, end_reason = NULL, end_detail = '', inspector_warning = 0
      WHERE target_id = @targetId`),
    heartbeat: p(`
      UPDATE targets SET target_cpu = @targetCpu, target_rss_bytes = @rss, windows_published = @windowsPublished,
        publish_failures = @publishFailures, messages_dropped = @dropped
      WHERE target_id = @targetId`),
    goodbye: p("UPDATE targets SET ended_at_ms = @at, end_reason = @reason, end_detail = @detail, inspector_warning = @warning WHERE target_id = @targetId"),
    insertWindow: p(`
      INSERT INTO windows (window_id, target_id, service, deployment, sequence, start_ms, end_ms, sampling_interval_us,
        total_samples, cpu_us, idle_us, gc_us, program_us, truncated_functions, sensor_us, requests_not_kept, received_at_ms)
      VALUES (@windowId, @targetId, @service, @deployment, @sequence, @startMs, @endMs, @intervalUs,
        @totalSamples, @cpuUs, @idleUs, @gcUs, @programUs, @truncated, @sensorUs, @requestsNotKept, @receivedAtMs)
      ON CONFLICT(window_id) DO NOTHING`),
    insertFunction: p(`
      INSERT INTO functions (identity, name, script_url, file_path, line, col, package_name, package_version, called_by)
      VALUES (@identity, @name, @scriptUrl, @filePath, @line, @col, @packageName, @packageVersion, @calledBy)
      ON CONFLICT(identity) DO NOTHING`),
    functionByIdentity: p("SELECT function_id FROM functions WHERE identity = @identity"),
    updateGenerated: p("UPDATE functions SET generated_file = @file, generated_line = @line, generated_column = @column WHERE function_id = @functionId"),
    insertWindowFunction: p(`
      INSERT INTO window_functions (window_ref, function_id, self_samples, total_samples, self_us, total_us, hot_lines, inlined_samples, uncertain_samples, inline_candidates)
      VALUES (@windowRef, @functionId, @selfSamples, @totalSamples, @selfUs, @totalUs, @hotLines, @inlinedSamples, @uncertainSamples, @inlineCandidates)`),
    insertWindowEndpoint: p(`
      INSERT INTO window_endpoints (window_ref, direction, host, method, route, status, route_template, count, total_ms, max_ms, buckets, sampled_every)
      VALUES (@windowRef, @direction, @host, @method, @route, @status, @template, @count, @totalMs, @maxMs, @buckets, @sampledEvery)`),
    insertRejected: p(`
      INSERT INTO rejected_messages (received_at_ms, subject, code, reason, size, head)
      VALUES (@at, @subject, @code, @reason, @size, @head)`),
    trimRejected: p("DELETE FROM rejected_messages WHERE id <= (SELECT MAX(id) FROM rejected_messages) - @keep"),
    pruneWindows: p("DELETE FROM windows WHERE end_ms < @cutoffMs"),
    pruneTargets: p(`
      DELETE FROM targets WHERE last_seen_ms < @cutoffMs
        AND NOT EXISTS (SELECT 1 FROM windows w WHERE w.target_id = targets.target_id)`),
    pruneRejected: p("DELETE FROM rejected_messages WHERE received_at_ms < @cutoffMs"),
    pruneAlerts: p("DELETE FROM alerts WHERE created_at_ms < @cutoffMs"),
  };
}
