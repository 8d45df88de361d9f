import type { Db } from "../store/database.js";

export interface FunctionStatsQuery {
  /** A function name, or "file:line" of its declaration. */
  function: string;
  service?: string | undefined;
  sinceMs: number;
  /** Width of the time buckets (default: the period in 12 buckets, at least a minute). */
  bucketMs?: number;
}

export interface FunctionShare {
  /** 0..1 of sampled CPU (idle and GC excluded) in the windows counted. */
  selfShare: number;
  totalShare: number;
  selfMs: number;
  samples: number;
  windows: number;
}

export interface FunctionStats {
  matches: Array<{ name: string; file: string; line: number; package: string | null; packageVersion: string | null; service: string }>;
  overall: FunctionShare;
  byDeployment: Array<FunctionShare & { deployment: string; firstSeenAt: string; lastSeenAt: string }>;
  /** Oldest first. */
  overTime: Array<FunctionShare & { from: string }>;
}

interface Row {
  deployment: string;
  start_ms: number;
  end_ms: number;
  cpu_us: number;
  self_us: number | null;
  total_us: number | null;
  self_samples: number | null;
}

function share(rows: Row[]): FunctionShare {
  const cpu = rows.reduce((sum, r) => sum + r.cpu_us, 0);
  const self = rows.reduce((sum, r) => sum + (r.self_us ?? 0), 0);
  const total = rows.reduce((sum, r) => sum + (r.total_us ?? 0), 0);
  return {
    selfShare: cpu > 0 ? self / cpu : 0,
    totalShare: cpu > 0 ? total / cpu : 0,
    selfMs: Math.round(self / 1000),
    samples: rows.reduce((sum, r) => sum + (r.self_samples ?? 0), 0),
    windows: rows.length,
  };
}

/**
 * One function's share of CPU over time and per deployment: every window of the services it
 * appears in counts, with 0 where it was not sampled, so a share is comparable across periods.
 */
export function functionStats(db: Db, query: FunctionStatsQuery): FunctionStats {
  const at = /^(.+):(\d+)$/.exec(query.function);
  const functions = (
    at
      ? db.prepare("SELECT function_id, name, file_path, line, package_name, package_version FROM functions WHERE (file_path = ? OR file_path LIKE ?) AND line = ?").all(at[1], `%/${at[1]}`, Number(at[2]))
      : db.prepare("SELECT function_id, name, file_path, line, package_name, package_version FROM functions WHERE name = ?").all(query.function)
  ) as Array<{ function_id: number; name: string; file_path: string; line: number; package_name: string | null; package_version: string | null }>;
  const ids = functions.map((f) => f.function_id);
  const empty: FunctionShare = { selfShare: 0, totalShare: 0, selfMs: 0, samples: 0, windows: 0 };
  if (ids.length === 0) return { matches: [], overall: empty, byDeployment: [], overTime: [] };
  const marks = ids.map(() => "?").join(",");
  const services = (
    db.prepare(`SELECT DISTINCT w.service FROM window_functions wf JOIN windows w ON w.id = wf.window_ref WHERE wf.function_id IN (${marks})`).all(...ids) as Array<{ service: string }>
  )
    .map((r) => r.service)
    .filter((s) => query.service === undefined || s === query.service);
  const rows = db
    .prepare(
      `SELECT w.deployment, w.start_ms, w.end_ms, w.cpu_us,
              SUM(wf.self_us) AS self_us, SUM(wf.total_us) AS total_us, SUM(wf.self_samples) AS self_samples
       FROM windows w LEFT JOIN window_functions wf ON wf.window_ref = w.id AND wf.function_id IN (${marks})
       WHERE w.end_ms >= ? AND w.service IN (${services.map(() => "?").join(",") || "NULL"})
       GROUP BY w.id ORDER BY w.start_ms`,
    )
    .all(...ids, query.sinceMs, ...services) as Row[];
  const byDeployment = new Map<string, Row[]>();
  for (const row of rows) byDeployment.set(row.deployment, [...(byDeployment.get(row.deployment) ?? []), row]);
  const first = rows[0]?.start_ms ?? query.sinceMs;
  const last = rows.at(-1)?.end_ms ?? first;
  const bucketMs = query.bucketMs ?? Math.max(60_000, Math.ceil((last - first) / 12));
  const buckets = new Map<number, Row[]>();
  for (const row of rows) {
    const key = first + Math.floor((row.start_ms - first) / bucketMs) * bucketMs;
    buckets.set(key, [...(buckets.get(key) ?? []), row]);
  }
  return {
    matches: functions.map((f) => ({ name: f.name, file: f.file_path, line: f.line, package: f.package_name, packageVersion: f.package_version, service: services.join(",") })),
    overall: share(rows),
    byDeployment: [...byDeployment].map(([deployment, list]) => ({
      deployment,
      firstSeenAt: new Date(list[0]?.start_ms ?? 0).toISOString(),
      lastSeenAt: new Date(list.at(-1)?.end_ms ?? 0).toISOString(),
      ...share(list),
    })),
    overTime: [...buckets].map(([from, list]) => ({ from: new Date(from).toISOString(), ...share(list) })),
  };
}
