import type { Db } from "../store/database.js";
import type { RequestView } from "./request-store.js";
import { getRequest } from "./request-store.js";

const ms = (value: number): string => (value < 10 ? `${value.toFixed(1)} ms` : `${Math.round(value)} ms`);
const short = (text: string, max = 100): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/**
 * Pure: one kept request in a sentence, what a brief or a heads-up quotes: what failed (the
 * query or call with its error, the error the framework handled and the app line) or, for a slow
 * one, what took the time.
 */
export function describeRequest(r: RequestView): string {
  const head = `\`${r.method} ${r.route}\` ${r.status} in ${ms(r.durationMs)}`;
  const failedQuery = r.queries.find((q) => q.error);
  const failedCall = r.calls.find((c) => c.error || c.status >= 500 || c.status === 0);
  const parts: string[] = [];
  if (failedQuery?.error) parts.push(`query \`${short(failedQuery.statement)}\` failed with ${failedQuery.error.code ? `${failedQuery.error.code} ` : ""}${short(failedQuery.error.message, 160)}`);
  else if (failedCall) parts.push(`call ${failedCall.method} ${failedCall.host}${failedCall.route} ${failedCall.error ? `failed with ${short(failedCall.error.message, 160)}` : `answered ${failedCall.status || "nothing"}`}`);
  if (r.error) parts.push(`${r.error.type}${failedQuery ? "" : `: ${short(r.error.message, 160)}`}${r.error.appFrame ? ` at ${r.error.appFrame.replace(/^.*?\(?((?:file:\/\/)?\/[^()\s]*:\d+):\d+\)?$/, "$1")}` : ""}`);
  if (r.keptBecause === "aborted") {
    const running = [...r.queries.map((q) => ({ what: `query \`${short(q.statement)}\``, d: q.durationMs })), ...r.calls.map((c) => ({ what: `call ${c.method} ${c.host}${c.route}`, d: c.durationMs }))].find((s) => s.d === null);
    return `\`${r.method} ${r.route}\` given up on after ${ms(r.durationMs)} (its connection closed before the response ended)${running ? `, while ${running.what} was still running` : ""}`;
  }
  if (r.keptBecause === "slow") {
    const steps = [...r.queries.map((q) => ({ what: `query \`${short(q.statement)}\``, d: q.durationMs })), ...r.calls.map((c) => ({ what: `call ${c.method} ${c.host}${c.route}`, d: c.durationMs }))];
    const longest = steps.sort((a, b) => (b.d ?? Infinity) - (a.d ?? Infinity))[0];
    const over = `slow, over ${Math.round(r.slowThresholdMs)} ms`;
    if (!longest) return `${head} (${over}): no query or call of its own, so its time is its own code or its wait for the event loop`;
    return `${head} (${over}): ${longest.what} ${longest.d === null ? "still running at the response's end" : `took ${ms(longest.d)} (${Math.round((100 * longest.d) / Math.max(r.durationMs, 0.001))} %)`}`;
  }
  return parts.length > 0 ? `${head}: ${parts.join("; ")}` : head;
}

/** The failed and slow requests kept for one route in a period: how many, and the latest. */
export interface RouteRequests {
  service: string;
  method: string;
  route: string;
  /** Kept as failed (a 5xx, or given up on)... */
  failed: number;
  /** ...and as slow. Counts of kept requests: a few a minute per route at most, not every one. */
  slow: number;
  latest: { id: string; summary: string };
}

export interface RouteRequestsQuery {
  sinceMs: number;
  untilMs?: number;
  service?: string | undefined;
  deployment?: string | undefined;
  /** Only these routes ("METHOD route"). */
  routes?: readonly string[];
  limit?: number;
}

/** The routes with kept requests in a period, most failures first, each with its latest request. */
export function routeRequests(db: Db, query: RouteRequestsQuery): RouteRequests[] {
  const rows = db
    .prepare(
      `SELECT service, method, route, SUM(kept_because != 'slow') AS failed, SUM(kept_because = 'slow') AS slow,
         (SELECT r2.id FROM requests r2 WHERE r2.service = r.service AND r2.method = r.method AND r2.route = r.route
            AND r2.started_at_ms >= @since AND r2.started_at_ms < @until ORDER BY r2.started_at_ms DESC LIMIT 1) AS latest
       FROM requests r
       WHERE started_at_ms >= @since AND started_at_ms < @until AND (@service IS NULL OR service = @service) AND (@deployment IS NULL OR deployment = @deployment)
       GROUP BY service, method, route ORDER BY failed DESC, slow DESC, route`,
    )
    .all({ since: query.sinceMs, until: query.untilMs ?? Number.MAX_SAFE_INTEGER, service: query.service ?? null, deployment: query.deployment ?? null }) as Array<{
    service: string;
    method: string;
    route: string;
    failed: number;
    slow: number;
    latest: string;
  }>;
  const wanted = query.routes ? new Set(query.routes) : undefined;
  return rows
    .filter((r) => !wanted || wanted.has(`${r.method} ${r.route}`))
    .slice(0, query.limit ?? 10)
    .map((r) => ({ service: r.service, method: r.method, route: r.route, failed: r.failed, slow: r.slow, latest: { id: r.latest, summary: describeRequest(getRequest(db, r.latest)) } }));
}
