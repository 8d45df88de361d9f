import type { Db, IncidentView } from "@seismo/analyzer";
import { diffDeployments, listDeployments, listSnapshots } from "@seismo/analyzer";
import type { Triage, TriageInput } from "./render/triage.js";
import { triage } from "./render/triage.js";

/** The incident's deployment against the one before it (for a regression, the one it was compared with). */
function changesFor(db: Db, incident: IncidentView): TriageInput["changes"] {
  let from = incident.previousDeployment;
  if (!from) {
    const order = listDeployments(db, { service: incident.service }).map((d) => d.deployment);
    const at = order.indexOf(incident.deployment);
    from = at > 0 ? (order[at - 1] ?? null) : null;
  }
  if (!from) return null;
  try {
    return { from, to: incident.deployment, comparison: diffDeployments(db, { from, to: incident.deployment, service: incident.service }) };
  } catch {
    return null;
  }
}

/** The triage brief of one incident, from the database: its snapshots and its deployment's changes. */
export function triageFor(db: Db, incident: IncidentView): Triage {
  return triage({ incident, snapshots: listSnapshots(db, { incidentId: incident.id, limit: 5 }), changes: changesFor(db, incident) });
}
