import { ErrorCodes, SeismoError } from "@seismo/agent-proto";
import type { IncidentView } from "@seismo/analyzer";
import { getIncident, listIncidents, openDatabaseReadOnly, triageFor } from "@seismo/analyzer";
import { usageError } from "../cli-error.js";
import { verbArgs } from "../verb-args.js";
import { DB_HELP, DB_OPTION, dbPath } from "../options.js";

export const TRIAGE_HELP = `Usage: seismo triage (<incident-id> | --latest) [--json] [--db PATH]

A Markdown brief on one incident that an engineer or a coding agent can act on:
what happened, the evidence, the culprit with its caller chain and the app line
to open, the values captured from it, what changed since the last deployment,
and what to check next.

Options:
  --latest             the most recent incident (of the last 7 days)
  --json               the same as JSON: id, kind, service, summary, open (file:line),
                       culprit, changed, next, markdown
${DB_HELP}
  -h, --help           this help`;

export async function triageCommand(args: string[], out: (text: string) => void): Promise<number> {
  const parsed = verbArgs("triage", args, { ...DB_OPTION, latest: { type: "boolean" }, json: { type: "boolean" } }, TRIAGE_HELP, out, 1);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const [id] = positionals;
  if ((id === undefined) === (values.latest !== true)) throw usageError("Give an incident id or --latest (one of them).", "triage");
  const db = openDatabaseReadOnly(dbPath(values.db));
  try {
    let incident: IncidentView;
    if (id !== undefined) incident = getIncident(db, id);
    else {
      const latest = listIncidents(db, { sinceMs: Date.now() - 7 * 86_400_000 })[0];
      if (!latest) throw new SeismoError(ErrorCodes.NOT_FOUND, "No incident in the last 7 days.", { hint: "`seismo incidents --since 30d` lists older ones." });
      incident = latest;
    }
    const brief = triageFor(db, incident);
    out(values.json ? JSON.stringify(brief, null, 2) : brief.markdown.trimEnd());
    return 0;
  } finally {
    db.close();
  }
}
