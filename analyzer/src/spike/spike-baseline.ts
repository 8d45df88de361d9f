import type { Db } from "../store/database.js";
import type { Baseline, BaselineFunction } from "./culprits.js";

export interface BaselineQuery {
  service: string;
  /** Windows that ended at or before this (the spike's onset) and after `sinceMs`. */
  beforeMs: number;
  sinceMs: number;
  /** The most recent windows only. */
  maxWindows?: number;
}

/**
 * The service's normal profile: its most recent windows before the spike,
 * summed per function. Windows of every process of the service count: replicas
 * doing the same work make the baseline steadier, not different.
 */
export function loadBaseline(db: Db, query: BaselineQuery): Baseline {
  const windows = db
    .prepare(
      `SELECT id, cpu_us FROM windows WHERE service = ? AND end_ms <= ? AND end_ms > ?
       ORDER BY end_ms DESC LIMIT ?`,
    )
    .all(query.service, query.beforeMs, query.sinceMs, query.maxWindows ?? 120) as Array<{ id: number; cpu_us: number }>;
  if (windows.length === 0) return { windows: 0, cpuUs: 0, functions: [] };
  const ids = windows.map((w) => w.id);
  const rows = db
    .prepare(
      `SELECT f.name, f.script_url, f.line, wf.self_us, wf.hot_lines
       FROM window_functions wf JOIN functions f ON f.function_id = wf.function_id
       WHERE wf.window_ref IN (SELECT value FROM json_each(?))`,
    )
    .all(JSON.stringify(ids)) as Array<{ name: string; script_url: string; line: number; self_us: number; hot_lines: string }>;
  const byKey = new Map<string, BaselineFunction>();
  for (const row of rows) {
    const key = `${row.script_url}\u0000${row.name}\u0000${row.line}`;
    let f = byKey.get(key);
    if (!f) byKey.set(key, (f = { name: row.name, scriptUrl: row.script_url, line: row.line, selfUs: 0, hotLines: [] }));
    f.selfUs += row.self_us;
    for (const [line, samples] of JSON.parse(row.hot_lines) as Array<[number, number]>) f.hotLines.push([line, samples]);
  }
  return { windows: windows.length, cpuUs: windows.reduce((sum, w) => sum + w.cpu_us, 0), functions: [...byKey.values()] };
}
