import type { LatencyHistogram } from "@seismo/agent-proto";
import { latencyQuantile } from "@seismo/agent-proto";
import type { EndpointWindowSample } from "../regressions/endpoint-compare.js";
import type { Db } from "../store/database.js";

export interface EndpointsQuery {
  /** Only windows that ended at or after this time (unix ms)... */
  sinceMs: number;
  /** ...and before this one (default: no end). */
  untilMs?: number | undefined;
  service?: string | undefined;
  deployment?: string | undefined;
  /** Only routes containing this text. */
  route?: string | undefined;
  /** "in": the endpoints the apps served (default); "out": the HTTP calls they made; "db": their database queries. */
  direction?: "in" | "out" | "db";
  limit?: number;
}

/** One row of `seismo endpoints --json`: field names are part of the CLI's contract. */
export interface EndpointFigures {
  service: string;
  /** Outgoing calls: the destination host[:port]; queries: the database (postgresql://host:port/db); "" for endpoints. */
  host: string;
  method: string;
  route: string;
  /** True when the route is the framework's template (Express), false when normalized from paths. */
  routeTemplate: boolean;
  /** True when, under heavy traffic, only one request in N was timed in some window: the figures are estimates. */
  estimated: boolean;
  calls: number;
  /**
   * Calls per second of busy time: over the windows in which it was called (per process), not
   * the whole period, so that an idle hour does not dilute a busy minute.
   */
  ratePerSec: number;
  /**
   * Failures, and their share of calls: responses with a 5xx status (and, for outgoing calls,
   * calls that failed without a response, status 0); for queries, the ones that failed (status 1).
   */
  errors: number;
  errorRate: number;
  /** Calls per status code, e.g. { "200": 95, "404": 5 }. */
  statuses: Record<string, number>;
  /** Latency from request start to response finish, ms; percentiles within 19 % (one histogram bucket). */
  meanMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface EndpointsResult {
  sinceMs: number;
  /** Windows in the period (of the service, when one was given), with or without requests. */
  windows: number;
  endpoints: EndpointFigures[];
}

interface Row {
  window_id: number;
  window_ms: number;
  service: string;
  host: string;
  method: string;
  route: string;
  status: number;
  route_template: number;
  sampled_every: number;
  count: number;
  total_ms: number;
  max_ms: number;
  buckets: string;
}

interface Group {
  figures: Omit<EndpointFigures, "ratePerSec" | "errorRate" | "meanMs" | "p50Ms" | "p95Ms" | "p99Ms">;
  totalMs: number;
  histogram: LatencyHistogram;
  /** The windows it was called in, and their lengths (ms): its busy time. */
  windows: Map<number, number>;
}

/** HTTP endpoints over a period, busiest first: calls, rate, errors, latency percentiles from the merged histograms. */
export function endpointFigures(db: Db, query: EndpointsQuery): EndpointsResult {
  const where = ["w.end_ms >= @sinceMs"];
  if (query.untilMs !== undefined) where.push("w.end_ms < @untilMs");
  if (query.service !== undefined) where.push("w.service = @service");
  if (query.deployment !== undefined) where.push("w.deployment = @deployment");
  const params = { sinceMs: query.sinceMs, untilMs: query.untilMs, service: query.service, deployment: query.deployment };
  const windowFilter = where.join(" AND ");
  const windowCount = (db.prepare(`SELECT COUNT(*) AS n FROM windows w WHERE ${windowFilter}`).get(stripUndefined(params)) as { n: number }).n;
  const rows = db
    .prepare(
      `SELECT w.id AS window_id, w.end_ms - w.start_ms AS window_ms, w.service, e.host, e.method, e.route, e.status, e.route_template, e.sampled_every, e.count, e.total_ms, e.max_ms, e.buckets
       FROM windows w CROSS JOIN window_endpoints e ON e.window_ref = w.id -- the period's windows drive: never a scan of all history
       WHERE ${windowFilter} AND e.direction = @direction${query.route !== undefined ? " AND instr(e.route, @route) > 0" : ""}`,
    )
    .all(stripUndefined({ ...params, route: query.route, direction: query.direction ?? "in" })) as Row[];
  const failed = query.direction === "db" ? (status: number) => status === 1 : (status: number) => status >= 500 || status === 0;
  const groups = new Map<string, Group>();
  for (const row of rows) {
    const key = `${row.service}\u0000${row.host}\u0000${row.method}\u0000${row.route}`;
    let group = groups.get(key);
    if (!group) {
      group = {
        figures: { service: row.service, host: row.host, method: row.method, route: row.route, routeTemplate: false, estimated: false, calls: 0, errors: 0, statuses: {}, maxMs: 0 },
        totalMs: 0,
        histogram: new Map(),
        windows: new Map(),
      };
      groups.set(key, group);
    }
    group.windows.set(row.window_id, row.window_ms);
    const f = group.figures;
    f.calls += row.count;
    f.routeTemplate ||= row.route_template === 1;
    f.estimated ||= row.sampled_every > 1;
    if (failed(row.status)) f.errors += row.count;
    f.statuses[String(row.status)] = (f.statuses[String(row.status)] ?? 0) + row.count;
    f.maxMs = Math.max(f.maxMs, row.max_ms);
    group.totalMs += row.total_ms;
    for (const [bucket, count] of JSON.parse(row.buckets) as Array<[number, number]>) group.histogram.set(bucket, (group.histogram.get(bucket) ?? 0) + count);
  }
  const endpoints = [...groups.values()]
    .map(({ figures, totalMs, histogram, windows }): EndpointFigures => {
      let busyMs = 0;
      for (const ms of windows.values()) busyMs += ms;
      return {
        ...figures,
        ratePerSec: busyMs > 0 ? figures.calls / (busyMs / 1_000) : 0,
        errorRate: figures.calls > 0 ? figures.errors / figures.calls : 0,
        meanMs: figures.calls > 0 ? totalMs / figures.calls : 0,
        // A bucket's middle can lie past the largest latency seen: never report a percentile above the max.
        p50Ms: Math.min(latencyQuantile(histogram, 0.5), figures.maxMs),
        p95Ms: Math.min(latencyQuantile(histogram, 0.95), figures.maxMs),
        p99Ms: Math.min(latencyQuantile(histogram, 0.99), figures.maxMs),
      };
    })
    .sort((x, y) => y.calls - x.calls || x.route.localeCompare(y.route))
    .slice(0, query.limit ?? 50);
  return { sinceMs: query.sinceMs, windows: windowCount, endpoints };
}

/** better-sqlite3 refuses named parameters the statement does not use only when they are undefined: drop those. */
function stripUndefined(params: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined));
}

/**
 * Every window of one deployment of a service, with its served endpoints (or its outgoing calls,
 * or its queries) keyed "method\0host\0route", for compareEndpoints.
 */
export function endpointWindowSamples(db: Db, query: { service: string; deployment: string; direction?: "in" | "out" | "db" }): EndpointWindowSample[] {
  const direction = query.direction ?? "in";
  const failed = direction === "db" ? (status: number) => status === 1 : (status: number) => status >= 500 || status === 0;
  const windows = db
    .prepare("SELECT id, target_id FROM windows WHERE service = @service AND deployment = @deployment ORDER BY end_ms")
    .all({ service: query.service, deployment: query.deployment }) as Array<{ id: number; target_id: string }>;
  const byId = new Map<number, EndpointWindowSample>(windows.map((w) => [w.id, { group: w.target_id, endpoints: new Map() }]));
  const rows = db
    .prepare(
      `SELECT e.window_ref, e.method, e.host, e.route, e.status, e.count, e.total_ms
       FROM windows w CROSS JOIN window_endpoints e ON e.window_ref = w.id
       WHERE w.service = @service AND w.deployment = @deployment AND e.direction = @direction`,
    )
    .all({ service: query.service, deployment: query.deployment, direction }) as Array<{
    window_ref: number;
    method: string;
    host: string;
    route: string;
    status: number;
    count: number;
    total_ms: number;
  }>;
  for (const row of rows) {
    const sample = byId.get(row.window_ref);
    if (!sample) continue;
    const key = `${row.method}\u0000${row.host}\u0000${row.route}`;
    const seen = sample.endpoints.get(key) ?? { calls: 0, totalMs: 0, errors: 0 };
    seen.calls += row.count;
    seen.totalMs += row.total_ms;
    if (failed(row.status)) seen.errors += row.count;
    sample.endpoints.set(key, seen);
  }
  return [...byId.values()];
}
