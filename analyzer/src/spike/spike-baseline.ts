import type { Db } from "../store/database.js";
import type { Baseline, BaselineFunction } from "./culprits.js";

/**
 * A window counts for a spike's baseline only when the main thread was at least this busy
 * (cores): in an idle window every share is a handful of timer and heartbeat samples, and any
 * ordinary work that arrives takes "a far larger share than normal" of nothing (issue 17: idle
 * for 40 s, then the usual traffic, paged as "(anonymous) took 25 % of CPU, 0 % normally").
 */
export const BUSY_CORES = 0.05;
/** ...and the busy windows together hold at least this much CPU, so that shares mean something (50 samples at 10 ms). */
export const MIN_BASELINE_CPU_US = 500_000;

export interface BaselineQuery {
  service: string;
  /** Only windows at least this busy (cores; BUSY_CORES when absent or lower)... */
  minCores?: number;
  /** ...or every window, idle ones too (for what their requests cost, not for their shape). */
  anyLoad?: boolean;
  /** Windows that ended at or before this (the spike's onset) and after `sinceMs`. */
  beforeMs: number;
  sinceMs: number;
  /** The most recent windows only. */
  maxWindows?: number;
}

export interface FollowingQuery {
  service: string;
  minCores?: number;
  /** Windows that started at or after this (the burst's end) and ended by `untilMs`. */
  afterMs: number;
  untilMs: number;
  maxWindows?: number;
}

/** Requests served and CPU used over some windows: what a load change is judged by. */
export interface Traffic {
  windows: number;
  /** Wall time the windows cover, s. */
  seconds: number;
  /** Incoming requests (already scaled up where they were sampled); 0 for a process with no HTTP probe or no traffic. */
  requests: number;
  /** Main-thread CPU, µs (idle and GC excluded). */
  cpuUs: number;
}

const BUSY = "cpu_us >= @busy * (end_ms - start_ms) * 1000";

/**
 * The service's normal profile: its most recent busy windows before the spike, summed per
 * function. Windows of every process of the service count: replicas doing the same work make
 * the baseline steadier, not different. Idle windows never count (BUSY_CORES).
 */
export function loadBaseline(db: Db, query: BaselineQuery): Baseline {
  const windows = db
    .prepare(
      `SELECT id, cpu_us FROM windows WHERE service = @service AND end_ms <= @beforeMs AND end_ms > @sinceMs AND ${BUSY}
       ORDER BY end_ms DESC LIMIT @limit`,
    )
    .all({ service: query.service, beforeMs: query.beforeMs, sinceMs: query.sinceMs, busy: query.anyLoad ? 0 : Math.max(BUSY_CORES, query.minCores ?? 0), limit: query.maxWindows ?? 120 }) as Array<{
    id: number;
    cpu_us: number;
  }>;
  return summed(db, windows);
}

/**
 * The busy windows that followed a spike, summed per function: the baseline of a spike that had
 * none before it (traffic arriving at an idle service, a sidecar attached just before it).
 */
export function loadFollowing(db: Db, query: FollowingQuery): Baseline {
  const windows = db
    .prepare(
      `SELECT id, cpu_us FROM windows WHERE service = @service AND start_ms >= @afterMs AND end_ms <= @untilMs AND ${BUSY}
       ORDER BY end_ms LIMIT @limit`,
    )
    .all({ service: query.service, afterMs: query.afterMs, untilMs: query.untilMs, busy: Math.max(BUSY_CORES, query.minCores ?? 0), limit: query.maxWindows ?? 60 }) as Array<{
    id: number;
    cpu_us: number;
  }>;
  return summed(db, windows);
}

/**
 * The daemon ends the rolling window just before a burst starts and again just after it ends, so
 * one or two windows cover the burst's moments exactly, within this of its bounds.
 */
const BURST_WINDOW_SLACK_MS = 250;

/**
 * The target's windows over the same moments as its burst, summed per function: the same time
 * sampled by the rolling profiler, which has known where V8 inlined what since the daemon
 * attached (the burst's profiler, started at the spike, has not). Windows that also hold time
 * from before or after the burst are left out, and so is the sliver of one that ended as it began.
 */
export function loadBurstWindows(db: Db, targetId: string, burstStartMs: number, burstEndMs: number): Baseline {
  const windows = db
    .prepare(
      `SELECT id, cpu_us FROM windows WHERE target_id = @targetId AND end_ms > @from + @slack AND end_ms <= @to + @slack
       AND start_ms >= @from - @slack AND start_ms < @to - @slack ORDER BY start_ms`,
    )
    .all({ targetId, from: burstStartMs, to: burstEndMs, slack: BURST_WINDOW_SLACK_MS }) as Array<{ id: number; cpu_us: number }>;
  return summed(db, windows);
}

/** How many windows of the service, busy or not, started at or after `afterMs`: has time gone on since? */
export function countWindowsAfter(db: Db, service: string, afterMs: number): number {
  return (db.prepare("SELECT COUNT(*) AS n FROM windows WHERE service = ? AND start_ms >= ?").get(service, afterMs) as { n: number }).n;
}

/** The busy windows before and after a moment, together (each side as loadBaseline and loadFollowing take them). */
export function mergeBaselines(a: Baseline, b: Baseline): Baseline {
  const byKey = new Map<string, BaselineFunction>();
  for (const f of [...a.functions, ...b.functions]) {
    const key = `${f.scriptUrl}\u0000${f.name}\u0000${f.line}`;
    const known = byKey.get(key);
    if (known) {
      known.selfUs += f.selfUs;
      if (known.totalUs !== undefined) known.totalUs = f.totalUs === undefined ? undefined : known.totalUs + f.totalUs;
      known.hotLines.push(...f.hotLines);
    } else byKey.set(key, { ...f, hotLines: [...f.hotLines] });
  }
  return { windows: a.windows + b.windows, cpuUs: a.cpuUs + b.cpuUs, functions: [...byKey.values()], windowIds: [...(a.windowIds ?? []), ...(b.windowIds ?? [])] };
}

/** Requests and CPU of one target's windows that overlap [fromMs, toMs]. */
export function loadTargetTraffic(db: Db, targetId: string, fromMs: number, toMs: number): Traffic {
  return traffic(db, "target_id = @targetId AND end_ms > @fromMs AND start_ms < @toMs", { targetId, fromMs, toMs });
}

/** Requests and CPU of one target's windows that started in [fromMs, toMs). */
export function loadTargetTrafficStarting(db: Db, targetId: string, fromMs: number, toMs: number): Traffic {
  return traffic(db, "target_id = @targetId AND start_ms >= @fromMs AND start_ms < @toMs", { targetId, fromMs, toMs });
}

/** Requests and CPU of one target's windows that ended in (fromMs, toMs]: before a moment, none of it after. */
export function loadTargetTrafficBefore(db: Db, targetId: string, fromMs: number, toMs: number): Traffic {
  return traffic(db, "target_id = @targetId AND end_ms > @fromMs AND end_ms <= @toMs", { targetId, fromMs, toMs });
}

/** Requests and CPU of the given windows (a baseline's). */
export function loadWindowsTraffic(db: Db, windowIds: readonly number[]): Traffic {
  return traffic(db, "id IN (SELECT value FROM json_each(@ids))", { ids: JSON.stringify(windowIds) });
}

function traffic(db: Db, where: string, params: Record<string, unknown>): Traffic {
  const row = db
    .prepare(
      `SELECT COUNT(*) AS windows, COALESCE(SUM(end_ms - start_ms), 0) AS ms, COALESCE(SUM(cpu_us), 0) AS cpu_us,
         COALESCE(SUM((SELECT SUM(count) FROM window_endpoints e WHERE e.window_ref = w.id AND e.direction = 'in')), 0) AS requests
       FROM windows w WHERE ${where}`,
    )
    .get(params) as { windows: number; ms: number; cpu_us: number; requests: number };
  return { windows: row.windows, seconds: row.ms / 1_000, requests: row.requests, cpuUs: row.cpu_us };
}

function summed(db: Db, windows: Array<{ id: number; cpu_us: number }>): Baseline {
  if (windows.length === 0) return { windows: 0, cpuUs: 0, functions: [], windowIds: [] };
  const ids = windows.map((w) => w.id);
  const rows = db
    .prepare(
      `SELECT f.name, f.script_url, f.line, wf.self_us, wf.total_us, wf.hot_lines
       FROM window_functions wf JOIN functions f ON f.function_id = wf.function_id
       WHERE wf.window_ref IN (SELECT value FROM json_each(?))`,
    )
    .all(JSON.stringify(ids)) as Array<{ name: string; script_url: string; line: number; self_us: number; total_us: number; hot_lines: string }>;
  const byKey = new Map<string, BaselineFunction>();
  for (const row of rows) {
    const key = `${row.script_url}\u0000${row.name}\u0000${row.line}`;
    let f = byKey.get(key);
    if (!f) byKey.set(key, (f = { name: row.name, scriptUrl: row.script_url, line: row.line, selfUs: 0, totalUs: 0, hotLines: [] }));
    f.selfUs += row.self_us;
    f.totalUs = (f.totalUs ?? 0) + row.total_us;
    for (const [line, samples] of JSON.parse(row.hot_lines) as Array<[number, number]>) f.hotLines.push([line, samples]);
  }
  return { windows: windows.length, cpuUs: windows.reduce((sum, w) => sum + w.cpu_us, 0), functions: [...byKey.values()], windowIds: ids };
}
