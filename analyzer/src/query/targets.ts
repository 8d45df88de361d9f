import type { Db } from "../store/database.js";

export type TargetStatus = "attached" | "silent" | "ended";

/** One row of `seismo targets --json`: field names are part of the CLI's contract. */
export interface TargetSummary {
  targetId: string;
  service: string;
  deployment: string;
  pid: number;
  host: string;
  pod: string;
  nodeVersion: string;
  /** attached: heard from recently; silent: not heard from for a while and no goodbye; ended: said goodbye. */
  status: TargetStatus;
  endReason: string | null;
  /** From the goodbye: what the sensor did with the inspector ("Seismo closed the inspector (port 9229) it had opened"). */
  endDetail: string;
  /** The detail is a warning: the inspector Seismo opened was left open, or closing it cut off another debugger. */
  inspectorWarning: boolean;
  attachedAt: string | null;
  lastSeenAt: string;
  endedAt: string | null;
  windows: number;
  /** From the last heartbeat: 1.0 = one core busy. */
  targetCpu: number | null;
  targetRssBytes: number | null;
  publishFailures: number | null;
  messagesDropped: number | null;
}

export interface TargetsQuery {
  /** Targets seen at or after this time (unix ms). */
  sinceMs: number;
  service?: string | undefined;
  /** "Silent" after this long without a message (default 60 s: several windows and heartbeats). */
  silentAfterMs?: number;
  nowMs?: number;
}

interface Row {
  target_id: string;
  service: string;
  deployment: string;
  pid: number;
  host: string;
  pod: string;
  node_version: string;
  attached_at_ms: number | null;
  last_seen_ms: number;
  ended_at_ms: number | null;
  end_reason: string | null;
  end_detail: string;
  inspector_warning: number;
  target_cpu: number | null;
  target_rss_bytes: number | null;
  publish_failures: number | null;
  messages_dropped: number | null;
  windows: number;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** Every process a sensor watched in the period, most recently seen first. */
export function listTargets(db: Db, query: TargetsQuery): TargetSummary[] {
  const now = query.nowMs ?? Date.now();
  const silentAfter = query.silentAfterMs ?? 60_000;
  const filter = query.service === undefined ? "t.last_seen_ms >= @since" : "t.service = @service AND t.last_seen_ms >= @since";
  const params = query.service === undefined ? { since: query.sinceMs } : { since: query.sinceMs, service: query.service };
  const rows = db
    .prepare(
      `SELECT t.*, (SELECT COUNT(*) FROM windows w WHERE w.target_id = t.target_id) AS windows
       FROM targets t WHERE ${filter} ORDER BY t.last_seen_ms DESC`,
    )
    .all(params) as Row[];
  return rows.map((r) => ({
    targetId: r.target_id,
    service: r.service,
    deployment: r.deployment,
    pid: r.pid,
    host: r.host,
    pod: r.pod,
    nodeVersion: r.node_version,
    status: r.ended_at_ms !== null ? "ended" : now - r.last_seen_ms > silentAfter ? "silent" : "attached",
    endReason: r.end_reason,
    endDetail: r.end_detail,
    inspectorWarning: r.inspector_warning === 1,
    attachedAt: iso(r.attached_at_ms),
    lastSeenAt: iso(r.last_seen_ms) as string,
    endedAt: iso(r.ended_at_ms),
    windows: r.windows,
    targetCpu: r.target_cpu,
    targetRssBytes: r.target_rss_bytes,
    publishFailures: r.publish_failures,
    messagesDropped: r.messages_dropped,
  }));
}
