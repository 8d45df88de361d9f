import type { IncidentView } from "../incidents/incident.js";

/**
 * When an incident alerts, pure. No rules to write: every incident alerts
 * once, except when the same function in the same service made the same
 * kind of incident within the cool-down. A function that flaps (a spike every
 * few minutes, each its own incident) pages once per cool-down, not once per
 * flap; the incidents are all still stored and listed.
 */
export interface AlertRecord {
  incidentId: string;
  status: "pending" | "sent" | "failed" | "suppressed";
  createdAtMs: number;
}

export type AlertDecision = { send: true } | { send: false; reason: string };

/** Service, kind and the top culprit's identity (not its line, which moves between deployments). */
export function coolDownKey(incident: IncidentView): string {
  const top = incident.culprits[0];
  // With no function named, a regression is about an endpoint: the endpoint is its identity.
  const endpoint = incident.kind === "regression" ? incident.details.endpoints?.[0] : undefined;
  const culprit =
    top ? `${top.package ?? ""}|${top.builtin ? "builtin" : (top.file ?? "")}|${top.name}`
    : endpoint ? `endpoint|${endpoint.method} ${endpoint.route}`
    : "(none)";
  return `${incident.service}\u0000${incident.kind}\u0000${culprit}`;
}

/**
 * `previous` are the alert records with the same cool-down key, newest first;
 * `existing` the record of this incident, if any.
 */
export function decideAlert(existing: AlertRecord | undefined, previous: AlertRecord[], nowMs: number, coolDownMs: number): AlertDecision {
  if (existing) return { send: false, reason: `already ${existing.status}` };
  const recent = previous.find((r) => (r.status === "sent" || r.status === "pending") && nowMs - r.createdAtMs < coolDownMs);
  if (recent) {
    const minutes = Math.max(1, Math.round((nowMs - recent.createdAtMs) / 60_000));
    return { send: false, reason: `cool-down: the same culprit alerted ${minutes} min ago (${recent.incidentId})` };
  }
  return { send: true };
}
