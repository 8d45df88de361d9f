import type { Db } from "../store/database.js";

/**
 * Load changes: spikes the analyzer judged to be more of the usual requests, each costing what
 * it did. Never a page; shown beside incidents as context ("traffic rose 12× at 09:00").
 */
export interface LoadChangeView {
  service: string;
  deployment: string;
  targetId: string;
  /** When the CPU rose (ISO 8601). */
  at: string;
  /** The analyzer's sentence, with the request rates and CPU per request on both sides. */
  text: string;
  spikeId: string;
}

export interface LoadChangesQuery {
  sinceMs: number;
  untilMs?: number;
  service?: string | undefined;
  limit?: number;
}

/** Newest first. */
export function listLoadChanges(db: Db, query: LoadChangesQuery): LoadChangeView[] {
  const rows = db
    .prepare(
      `SELECT spike_id, service, deployment, target_id, onset_ms, verdict_reason FROM spikes
       WHERE verdict = 'load' AND onset_ms >= @sinceMs AND onset_ms <= @untilMs AND (@service IS NULL OR service = @service)
       ORDER BY onset_ms DESC LIMIT @limit`,
    )
    .all({ sinceMs: query.sinceMs, untilMs: query.untilMs ?? Number.MAX_SAFE_INTEGER, service: query.service ?? null, limit: query.limit ?? 50 }) as Array<{
    spike_id: string;
    service: string;
    deployment: string;
    target_id: string;
    onset_ms: number;
    verdict_reason: string;
  }>;
  return rows.map((row) => ({
    service: row.service,
    deployment: row.deployment,
    targetId: row.target_id,
    at: new Date(row.onset_ms).toISOString(),
    text: row.verdict_reason,
    spikeId: row.spike_id,
  }));
}

/** One line for people: "2026-12-03T09:00:01Z  shop  Load, not an incident: requests rose 12× (…)". */
export function describeLoadChange(change: LoadChangeView): string {
  return `${change.at.replace(/\.\d{3}Z$/, "Z")}  ${change.service}  ${change.text}`;
}
