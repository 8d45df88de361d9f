import { parseArgs } from "node:util";
import { getIncident, openDatabaseReadOnly } from "@seismo/analyzer";
import { usageError } from "../cli-error.js";
import { DB_HELP, DB_OPTION, dbPath, HELP_OPTION } from "../options.js";
import { renderIncident } from "../render/incident.js";

export const SHOW_HELP = `Usage: seismo show <incident-id> [--json] [--db PATH]

One incident in full: what happened, the peaks, the culprits with the line of
the app that calls them, their call chains, and the evidence. A unique prefix
of the id is enough.

Options:
  --json               the incident as one JSON object (the shape of \`incidents --json\`)
${DB_HELP}
  -h, --help           this help`;

export async function showCommand(args: string[], out: (text: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: { ...DB_OPTION, ...HELP_OPTION, json: { type: "boolean" } }, allowPositionals: true });
  if (values.help) {
    out(SHOW_HELP);
    return 0;
  }
  const [id, extra] = positionals;
  if (id === undefined) throw usageError("Give the incident id (see `seismo incidents`).", "show");
  if (extra !== undefined) throw usageError(`Unexpected "${extra}".`, "show");
  const db = openDatabaseReadOnly(dbPath(values.db));
  try {
    const incident = getIncident(db, id);
    out(values.json ? JSON.stringify(incident, null, 2) : renderIncident(incident, process.cwd()).join("\n"));
  } finally {
    db.close();
  }
  return 0;
}
