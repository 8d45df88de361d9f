import { parseArgs } from "node:util";
import { getIncident, getRequest, listSnapshots, openDatabaseReadOnly } from "@seismo/analyzer";
import { usageError } from "../cli-error.js";
import { DB_HELP, DB_OPTION, dbPath, HELP_OPTION } from "../options.js";
import { renderIncident } from "../render/incident.js";
import { renderRequest } from "../render/request.js";
import { renderSnapshot } from "../render/snapshot.js";

export const SHOW_HELP = `Usage: seismo show <incident-id | request-id> [--json] [--db PATH]

One incident in full: what happened, the peaks, the culprits with the line of
the app that calls them, their call chains, the evidence, and the values the
culprit was working on (captured on its next calls). A unique prefix of the id
is enough.

A kept request (req-…, from \`seismo requests\`): its parameters, then its
timeline: its start, each query and outgoing call with when it began and how
long it took, the response; and the error with its stack, the app's frame first.

Options:
  --json               the incident as one JSON object (the shape of \`incidents --json\`,
                       plus snapshots: the values captured for it, as \`snapshots --json\`);
                       a request as \`requests --json\` gives each, plus snapshots: the
                       values captured at the app's line when its error came again
${DB_HELP}
  -h, --help           this help`;

export async function showCommand(args: string[], out: (text: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { ...DB_OPTION, ...HELP_OPTION, json: { type: "boolean" } }, allowPositionals: true });
  if (values.help) {
    out(SHOW_HELP);
    return 0;
  }
  const [id, extra] = positionals;
  if (id === undefined) throw usageError("Give the incident id (see `seismo incidents`) or a request id (see `seismo requests`).", "show");
  if (extra !== undefined) throw usageError(`Unexpected "${extra}".`, "show");
  const db = openDatabaseReadOnly(dbPath(values.db));
  try {
    if (id.startsWith("req-")) {
      const request = getRequest(db, id);
      // The values at the app's line when its error came again (an error probe's snapshots), newest first.
      const trigger = request.error?.captureTrigger;
      const captured = trigger ? listSnapshots(db, { incidentId: trigger }).filter((s) => s.hit > 0) : [];
      if (values.json) {
        out(JSON.stringify({ ...request, snapshots: captured }, null, 2));
        return 0;
      }
      out(renderRequest(request).join("\n"));
      const latest = captured[0];
      if (latest) {
        out("");
        out(`  The values at ${latest.file}:${latest.line} when this error came again (${captured.length} snapshot(s); all: seismo snapshots --errors):`);
        out(renderSnapshot(latest).map((line) => `  ${line}`).join("\n"));
      } else if (trigger) out(`\n  A capture is armed at the app's line for this error's next occurrence (seismo snapshots --errors).`);
      return 0;
    }
    const incident = getIncident(db, id);
    const snapshots = listSnapshots(db, { incidentId: incident.id });
    if (values.json) {
      out(JSON.stringify({ ...incident, snapshots }, null, 2));
      return 0;
    }
    out(renderIncident(incident, process.cwd()).join("\n"));
    if (snapshots.length > 0) {
      // The oldest first: the values at the culprit's first call after the incident opened.
      const first = snapshots.at(-1);
      out("");
      out(`  Captured values (${snapshots.length} snapshot(s); all: seismo snapshots --incident ${incident.id}):`);
      if (first) out(renderSnapshot(first).map((line) => `  ${line}`).join("\n"));
    }
  } finally {
    db.close();
  }
  return 0;
}
