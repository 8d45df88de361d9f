import { createHash } from "node:crypto";

export type IncidentKind = "cpu_spike" | "regression";

/** Short, stable, typeable: the same spike always gets the same id (redelivery stores nothing twice). */
export function incidentId(kind: IncidentKind, sourceId: string): string {
  return `${kind === "cpu_spike" ? "spk" : "reg"}-${createHash("sha256").update(sourceId).digest("hex").slice(0, 10)}`;
}
