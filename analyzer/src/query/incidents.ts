import { ErrorCodes, SeismoError } from "@seismo/agent-proto";
import type { IncidentKind } from "../incidents/incident-id.js";
import type { IncidentView } from "../incidents/incident.js";
import type { Culprit } from "../spike/culprits.js";
import { loadBurstProfile } from "../spike/spike-store.js";
import type { Db } from "../store/database.js";
import type { ChromeCpuProfile, ExportedAttribution } from "../spike/cpuprofile-export.js";
import { exportedAttribution, toChromeCpuProfile } from "../spike/cpuprofile-export.js";

export interface IncidentsQuery {
  sinceMs: number;
  kind?: string | undefined;
  service?: string | undefined;
  limit?: number;
}

interface Row {
  incident_id: string;
  kind: IncidentKind;
  service: string;
  deployment: string;
  target_id: string | null;
  started_at_ms: number;
  ended_at_ms: number | null;
  summary: string;
  culprits: string;
  details: string;
  source_id: string | null;
}

function toView(row: Row): IncidentView {
  const details = JSON.parse(row.details) as IncidentView["details"];
  return {
    id: row.incident_id,
    kind: row.kind,
    service: row.service,
    deployment: row.deployment,
    previousDeployment: "previousDeployment" in details ? details.previousDeployment : null,
    targetId: row.target_id,
    startedAt: new Date(row.started_at_ms).toISOString(),
    endedAt: row.ended_at_ms === null ? null : new Date(row.ended_at_ms).toISOString(),
    summary: row.summary,
    culprits: JSON.parse(row.culprits) as Culprit[],
    details,
  } as IncidentView;
}

/** Incidents that started at or after `sinceMs`, newest first. */
export function listIncidents(db: Db, query: IncidentsQuery): IncidentView[] {
  const rows = db
    .prepare(
      `SELECT * FROM incidents WHERE started_at_ms >= @since
         AND (@kind IS NULL OR kind = @kind) AND (@service IS NULL OR service = @service)
       ORDER BY started_at_ms DESC, incident_id LIMIT @limit`,
    )
    .all({ since: query.sinceMs, kind: query.kind ?? null, service: query.service ?? null, limit: query.limit ?? 1_000 }) as Row[];
  return rows.map(toView);
}

function findRow(db: Db, id: string): Row {
  const exact = db.prepare("SELECT * FROM incidents WHERE incident_id = ?").get(id) as Row | undefined;
  if (exact) return exact;
  // A unique prefix is enough, as with git commits.
  const escaped = id.replace(/[\\%_]/g, (c) => `\\${c}`);
  const rows = db.prepare("SELECT * FROM incidents WHERE incident_id LIKE ? ESCAPE '\\' LIMIT 2").all(`${escaped}%`) as Row[];
  if (rows.length === 1) return rows[0] as Row;
  throw new SeismoError(
    ErrorCodes.NOT_FOUND,
    rows.length === 0 ? `No incident "${id}" in the database.` : `"${id}" matches several incidents: give more of the id.`,
    { hint: "`seismo incidents` lists them with their ids." },
  );
}

export function getIncident(db: Db, id: string): IncidentView {
  return toView(findRow(db, id));
}

/** The burst profile of a cpu_spike incident as a Chrome .cpuprofile (DevTools, speedscope). */
export function incidentProfile(db: Db, id: string): { incident: IncidentView; profile: ChromeCpuProfile; attribution: ExportedAttribution } {
  const row = findRow(db, id);
  const burst = row.kind === "cpu_spike" && row.source_id ? loadBurstProfile(db, row.source_id) : undefined;
  if (!burst) {
    throw new SeismoError(ErrorCodes.NOT_FOUND, `Incident ${row.incident_id} has no stored profile.`, {
      hint: "Only cpu_spike incidents carry a burst profile, and retention deletes old ones.",
    });
  }
  return { incident: toView(row), profile: toChromeCpuProfile(burst), attribution: exportedAttribution(burst) };
}
