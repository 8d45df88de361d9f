import { describeLoadChange, listIncidents, listLoadChanges, openDatabaseReadOnly, parseDuration } from "@seismo/analyzer";
import { verbArgs } from "../verb-args.js";
import { DB_HELP, DB_OPTION, dbPath } from "../options.js";
import { renderIncidentLine } from "../render/incident.js";

export const INCIDENTS_HELP = `Usage: seismo incidents [--since DURATION] [--kind KIND] [--service NAME] [--json] [--db PATH]

What went wrong, newest first: CPU spikes with the function that caused them
(kind cpu_spike), and functions that got slower after a deployment or drifted
without one (kind regression). Each has an id for \`seismo show <id>\`; spikes
also for \`seismo profile <id>\`. Below them, as context and never paged: load
changes, CPU that rose with the requests while each request cost what it did.

Options:
  --since DURATION     how far back (default 24h): 30m, 2h, 7d
  --kind KIND          only this kind (cpu_spike or regression)
  --service NAME       only this service
  --json               a JSON array, newest first; each element has id, kind,
                       service, deployment, startedAt, endedAt (ISO 8601, null
                       while ongoing), summary, culprits (most responsible
                       first: name, file, line, package, packageVersion, share,
                       baselineShare, appFrame {name, file, line}, builtin,
                       hotLine, callers, note; for regressions change {kind,
                       ratio, ciLow, ciHigh}), previousDeployment and details
                       (load changes are not in it: \`seismo incidents\` prints
                       them, the MCP list_incidents tool returns them)
${DB_HELP}
  -h, --help           this help`;

export async function incidentsCommand(args: string[], out: (text: string) => void): Promise<number> {
  const parsed = verbArgs("incidents", args, { ...DB_OPTION, since: { type: "string" }, kind: { type: "string" }, service: { type: "string" }, json: { type: "boolean" } }, INCIDENTS_HELP, out);
  if (!parsed) return 0;
  const { values } = parsed;
  const sinceMs = Date.now() - parseDuration(values.since ?? "24h");
  const db = openDatabaseReadOnly(dbPath(values.db));
  try {
    const incidents = listIncidents(db, { sinceMs, kind: values.kind, service: values.service });
    if (values.json) {
      out(JSON.stringify(incidents, null, 2));
      return 0;
    }
    if (incidents.length === 0) out(`No incidents since ${new Date(sinceMs).toISOString()}.`);
    else for (const incident of incidents) out(renderIncidentLine(incident));
    const loads = listLoadChanges(db, { sinceMs, service: values.service });
    if (loads.length > 0 && (values.kind === undefined || values.kind === "load")) {
      out("");
      out(`Not incidents: ${loads.length} load change(s), more of the usual requests at the usual cost each:`);
      for (const load of loads) out(`  ${describeLoadChange(load)}`);
    }
  } finally {
    db.close();
  }
  return 0;
}
