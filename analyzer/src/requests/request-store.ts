import { createHash } from "node:crypto";
import type { CapturedValue, RequestError, RequestExemplar, RequestStep } from "@seismo/agent-proto";
import { ErrorCodes, SeismoError } from "@seismo/agent-proto";
import type { Db } from "../store/database.js";
import { plainValue } from "./plain-value.js";

/** One query of a kept request, as `seismo requests --json` prints it. */
export interface RequestQueryView {
  statement: string;
  database: string;
  /** ms from the request's start */
  offsetMs: number;
  /** null: still running when the response ended */
  durationMs: number | null;
  /** null: the driver did not say */
  rows: number | null;
  error: { code: string; message: string } | null;
}

/** One outgoing call of a kept request. */
export interface RequestCallView {
  method: string;
  host: string;
  route: string;
  status: number;
  offsetMs: number;
  durationMs: number | null;
  error: { code: string; message: string } | null;
}

/** What `seismo requests --json` prints per request, and what `show`, MCP and the UI serve. */
export interface RequestView {
  /** "req-" and 10 hex digits: short, stable across redelivery. */
  id: string;
  service: string;
  deployment: string;
  targetId: string;
  /** ISO 8601 */
  startedAt: string;
  method: string;
  /** The framework's template (routeTemplate), else the path with ids as ":id". */
  route: string;
  routeTemplate: boolean;
  status: number;
  durationMs: number;
  /** "error" (the framework handled one), "status" (a 5xx), "slow" (over slowThresholdMs), "aborted" (its connection closed first; status 0: no headers sent). */
  keptBecause: string;
  slowThresholdMs: number;
  /** Path params, query string, the request headers kept, the parsed body: plain JSON, redacted and cut (marked). */
  params: { path: unknown; query: unknown; headers: unknown; body: unknown };
  queries: RequestQueryView[];
  calls: RequestCallView[];
  /** Queries and calls past the per-request limit, not kept. */
  stepsLeftOut: number;
  /** captureTrigger: "error:<fingerprint>", the trigger of this error's snapshots (`seismo snapshots --errors`); "" when none. */
  error: { type: string; message: string; code: string; stack: string[]; appFrame: string; handledBy: string; captureTrigger: string } | null;
}

/** Short, stable, typeable. */
export function requestViewId(requestId: string): string {
  return `req-${createHash("sha256").update(requestId).digest("hex").slice(0, 10)}`;
}

interface Detail {
  params: CapturedValue | null;
  query: CapturedValue | null;
  headers: CapturedValue | null;
  body: CapturedValue | null;
  steps: RequestStep[];
  error: RequestError | null;
}

interface Row {
  id: string;
  target_id: string;
  service: string;
  deployment: string;
  started_at_ms: number;
  method: string;
  route: string;
  route_template: number;
  status: number;
  duration_ms: number;
  kept_because: string;
  slow_threshold_ms: number;
  steps_left_out: number;
  detail: string;
}

/** Stores a kept request once; false for a redelivery. */
export function recordRequest(db: Db, request: RequestExemplar, receivedAtMs: number): boolean {
  const detail: Detail = {
    params: request.params ?? null,
    query: request.query ?? null,
    headers: request.headers ?? null,
    body: request.body ?? null,
    steps: request.steps,
    error: request.error ?? null,
  };
  const result = db
    .prepare(
      `INSERT OR IGNORE INTO requests (id, request_id, target_id, service, deployment, started_at_ms, method, route, route_template, status,
         duration_ms, kept_because, slow_threshold_ms, error_type, error_message, steps_left_out, detail, received_at_ms)
       VALUES (@id, @requestId, @targetId, @service, @deployment, @startedAtMs, @method, @route, @template, @status,
         @durationMs, @keptBecause, @slowThresholdMs, @errorType, @errorMessage, @stepsLeftOut, @detail, @receivedAtMs)`,
    )
    .run({
      id: requestViewId(request.requestId),
      requestId: request.requestId,
      targetId: request.target.targetId,
      service: request.target.service,
      deployment: request.target.deployment,
      startedAtMs: request.startedAtMs,
      method: request.method,
      route: request.route,
      template: request.routeTemplate ? 1 : 0,
      status: request.status,
      durationMs: request.durationMs,
      keptBecause: request.keptBecause,
      slowThresholdMs: request.slowThresholdMs,
      errorType: request.error?.type ?? "",
      errorMessage: request.error?.message ?? "",
      stepsLeftOut: request.stepsLeftOut,
      detail: JSON.stringify(detail),
      receivedAtMs,
    });
  return result.changes > 0;
}

export function pruneRequests(db: Db, cutoffMs: number): void {
  db.prepare("DELETE FROM requests WHERE started_at_ms < ?").run(cutoffMs);
}

export interface RequestsQuery {
  /** Only failed ones (a 5xx, or given up on before its response ended)... */
  errors?: boolean;
  /** ...or only slow ones. */
  slow?: boolean;
  route?: string | undefined;
  service?: string | undefined;
  sinceMs?: number;
  limit?: number;
}

const plain = (value: CapturedValue | null): unknown => (value ? plainValue(value) : null);
const stepError = (step: RequestStep) => (step.errorCode || step.errorMessage ? { code: step.errorCode, message: step.errorMessage } : null);

function toView(row: Row): RequestView {
  const detail = JSON.parse(row.detail) as Detail;
  return {
    id: row.id,
    service: row.service,
    deployment: row.deployment,
    targetId: row.target_id,
    startedAt: new Date(row.started_at_ms).toISOString(),
    method: row.method,
    route: row.route,
    routeTemplate: row.route_template === 1,
    status: row.status,
    durationMs: row.duration_ms,
    keptBecause: row.kept_because,
    slowThresholdMs: row.slow_threshold_ms,
    params: { path: plain(detail.params), query: plain(detail.query), headers: plain(detail.headers), body: plain(detail.body) },
    queries: detail.steps
      .filter((s) => s.kind === "query")
      .map((s) => ({ statement: s.statement, database: s.database, offsetMs: s.offsetMs, durationMs: s.durationMs < 0 ? null : s.durationMs, rows: s.rows < 0 ? null : s.rows, error: stepError(s) })),
    calls: detail.steps
      .filter((s) => s.kind === "call")
      .map((s) => ({ method: s.method, host: s.host, route: s.path, status: s.status, offsetMs: s.offsetMs, durationMs: s.durationMs < 0 ? null : s.durationMs, error: stepError(s) })),
    stepsLeftOut: row.steps_left_out,
    error: detail.error ? { ...detail.error, captureTrigger: detail.error.captureTrigger ?? "" } : null,
  };
}

/** Newest first. */
export function listRequests(db: Db, query: RequestsQuery = {}): RequestView[] {
  const rows = db
    .prepare(
      `SELECT * FROM requests
       WHERE started_at_ms >= @since AND (@route IS NULL OR route = @route) AND (@service IS NULL OR service = @service)
         AND (@errors = 0 OR kept_because IN ('error', 'status', 'aborted')) AND (@slow = 0 OR kept_because = 'slow')
       ORDER BY started_at_ms DESC, id LIMIT @limit`,
    )
    .all({ since: query.sinceMs ?? 0, route: query.route ?? null, service: query.service ?? null, errors: query.errors ? 1 : 0, slow: query.slow ? 1 : 0, limit: query.limit ?? 100 }) as Row[];
  return rows.map(toView);
}

/** One kept request by its id or a unique prefix of it. */
export function getRequest(db: Db, id: string): RequestView {
  const exact = db.prepare("SELECT * FROM requests WHERE id = ?").get(id) as Row | undefined;
  if (exact) return toView(exact);
  const escaped = id.replace(/[\\%_]/g, (c) => `\\${c}`);
  const rows = db.prepare("SELECT * FROM requests WHERE id LIKE ? ESCAPE '\\' LIMIT 2").all(`${escaped}%`) as Row[];
  if (rows.length === 1) return toView(rows[0] as Row);
  throw new SeismoError(ErrorCodes.NOT_FOUND, rows.length === 0 ? `No kept request "${id}" in the database.` : `"${id}" matches several requests: give more of the id.`, {
    hint: "`seismo requests` lists them with their ids; retention deletes old ones.",
  });
}
