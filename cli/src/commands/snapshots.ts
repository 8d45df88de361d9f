import { getIncident, listSnapshots, openDatabaseReadOnly, parseDuration } from "@seismo/analyzer";
import { usageError } from "../cli-error.js";
import { verbArgs } from "../verb-args.js";
import { DB_HELP, DB_OPTION, dbPath } from "../options.js";
import { renderSnapshot } from "../render/snapshot.js";

export const SNAPSHOTS_HELP = `Usage: seismo snapshots [--incident ID | --errors] [--since DURATION] [--json] [--db PATH]

Forensic captures, newest first: what a function was working on (its
arguments, locals, closure values and \`this\`) at the moment it was hit, read
by a breakpoint that never pauses the app. Values are cut to the limits
(depth 3, 20 fields, 100 items, 255 characters; each cut is marked) and secrets
are redacted before they leave the app's host.

Uncaught exceptions come here too (trigger "error:<fingerprint>"): the first
occurrence with its class, message and stack but no values (the stack has
unwound by then), then, when the same exception is thrown from the same line
again, the values that line ran with.

Options:
  --incident ID        only the captures an incident armed (an id or a unique prefix)
  --errors             only uncaught exceptions and their captures
  --since DURATION     how far back (default 24h): 30m, 2h, 7d
  --json               a JSON array: id, probeId, trigger, service, deployment,
                       targetId, file, line, column, functionName, capturedAt,
                       hit, last, stack, locals and thisValue (values: name, type,
                       value, children, truncated, omitted), captureCostUs, error
${DB_HELP}
  -h, --help           this help`;

export async function snapshotsCommand(args: string[], out: (text: string) => void): Promise<number> {
  const parsed = verbArgs("snapshots", args, { ...DB_OPTION, incident: { type: "string" }, errors: { type: "boolean" }, since: { type: "string" }, json: { type: "boolean" } }, SNAPSHOTS_HELP, out);
  if (!parsed) return 0;
  const { values } = parsed;
  if (values.errors && values.incident !== undefined) throw usageError("Give --incident or --errors, not both.", "snapshots");
  const sinceMs = Date.now() - parseDuration(values.since ?? "24h");
  const db = openDatabaseReadOnly(dbPath(values.db));
  try {
    const incidentId = values.incident === undefined ? undefined : getIncident(db, values.incident).id;
    const snapshots = listSnapshots(db, { incidentId, errors: values.errors === true, sinceMs: incidentId ? 0 : sinceMs });
    if (values.json) out(JSON.stringify(snapshots, null, 2));
    else if (snapshots.length === 0)
      out(incidentId ? `No snapshots for ${incidentId}.` : `No ${values.errors ? "uncaught exceptions" : "snapshots"} since ${new Date(sinceMs).toISOString()}.`);
    else
      for (const s of snapshots) {
        out(renderSnapshot(s).join("\n"));
        out("");
      }
  } finally {
    db.close();
  }
  return 0;
}
