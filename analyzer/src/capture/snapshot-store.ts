import type { CapturedValue, Snapshot } from "@seismo/agent-proto";
import type { Db } from "../store/database.js";

/** What `seismo snapshots --json` prints per snapshot, and what `show`, MCP and the UI serve. */
export interface SnapshotView {
  id: string;
  probeId: string;
  /** An incident id, or "manual". */
  trigger: string;
  service: string;
  deployment: string;
  targetId: string;
  file: string;
  line: number;
  column: number;
  functionName: string;
  /** ISO 8601 */
  capturedAt: string;
  hit: number;
  last: boolean;
  stack: string[];
  locals: CapturedValue[];
  thisValue: CapturedValue | null;
  captureCostUs: number;
  /** "<class>: <message>" when an exception armed it; "" otherwise. */
  error: string;
}

interface Row {
  snapshot_id: string;
  probe_id: string;
  target_id: string;
  service: string;
  deployment: string;
  trigger: string;
  file: string;
  line: number;
  column_number: number;
  function_name: string;
  captured_at_ms: number;
  hit: number;
  last: number;
  stack: string;
  locals: string;
  this_value: string | null;
  capture_cost_us: number;
  error: string;
}

/** Stores a snapshot once; returns false for a redelivery. */
export function recordSnapshot(db: Db, snapshot: Snapshot, receivedAtMs: number): boolean {
  const result = db
    .prepare(
      `INSERT OR IGNORE INTO snapshots (snapshot_id, probe_id, target_id, service, deployment, trigger, file, line, column_number,
         function_name, captured_at_ms, hit, last, stack, locals, this_value, capture_cost_us, error, received_at_ms)
       VALUES (@id, @probeId, @targetId, @service, @deployment, @trigger, @file, @line, @column, @functionName, @capturedAtMs,
         @hit, @last, @stack, @locals, @thisValue, @costUs, @error, @receivedAtMs)`,
    )
    .run({
      id: `${snapshot.probeId}:${snapshot.hit}`,
      probeId: snapshot.probeId,
      targetId: snapshot.target.targetId,
      service: snapshot.target.service,
      deployment: snapshot.target.deployment,
      trigger: snapshot.trigger,
      file: snapshot.file,
      line: snapshot.line,
      column: snapshot.column,
      functionName: snapshot.functionName,
      capturedAtMs: snapshot.capturedAtMs,
      hit: snapshot.hit,
      last: snapshot.last ? 1 : 0,
      stack: JSON.stringify(snapshot.stack),
      locals: JSON.stringify(snapshot.locals),
      thisValue: snapshot.thisValue ? JSON.stringify(snapshot.thisValue) : null,
      costUs: snapshot.captureCostUs,
      error: snapshot.error ?? "",
      receivedAtMs,
    });
  return result.changes > 0;
}

export function pruneSnapshots(db: Db, cutoffMs: number): void {
  db.prepare("DELETE FROM snapshots WHERE captured_at_ms < ?").run(cutoffMs);
}

export interface SnapshotsQuery {
  /** Only those an incident armed (its full id). */
  incidentId?: string | undefined;
  /** Only those of exceptions (trigger "error:…"). */
  errors?: boolean;
  sinceMs?: number;
  limit?: number;
}

/** Newest first; snapshots taken in the same millisecond (a hot function) by their hit, last first. */
export function listSnapshots(db: Db, query: SnapshotsQuery = {}): SnapshotView[] {
  const rows = db
    .prepare(
      `SELECT * FROM snapshots WHERE (@trigger IS NULL OR trigger = @trigger) AND (@errors = 0 OR trigger LIKE 'error:%')
         AND captured_at_ms >= @since
       ORDER BY captured_at_ms DESC, hit DESC, snapshot_id DESC LIMIT @limit`,
    )
    .all({ trigger: query.incidentId ?? null, errors: query.errors ? 1 : 0, since: query.sinceMs ?? 0, limit: query.limit ?? 100 }) as Row[];
  return rows.map((r) => ({
    id: r.snapshot_id,
    probeId: r.probe_id,
    trigger: r.trigger,
    service: r.service,
    deployment: r.deployment,
    targetId: r.target_id,
    file: r.file,
    line: r.line,
    column: r.column_number,
    functionName: r.function_name,
    capturedAt: new Date(r.captured_at_ms).toISOString(),
    hit: r.hit,
    last: r.last === 1,
    stack: JSON.parse(r.stack) as string[],
    locals: JSON.parse(r.locals) as CapturedValue[],
    thisValue: r.this_value ? (JSON.parse(r.this_value) as CapturedValue) : null,
    captureCostUs: r.capture_cost_us,
    error: r.error,
  }));
}
