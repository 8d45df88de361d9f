import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { ErrorCodes, SeismoError } from "@seismo/agent-proto";
import { incidentProfile, openDatabaseReadOnly } from "@seismo/analyzer";
import { usageError } from "../cli-error.js";
import { DB_HELP, DB_OPTION, dbPath, HELP_OPTION } from "../options.js";

export const PROFILE_HELP = `Usage: seismo profile <incident-id> -o FILE [--db PATH]

Writes the high-resolution profile taken during a CPU spike as a Chrome
.cpuprofile: open it in Chrome DevTools (Performance panel, "Load profile") or
drop it on https://www.speedscope.app.

Options:
  -o, --output FILE    where to write it (- for standard output)
${DB_HELP}
  -h, --help           this help`;

export async function profileCommand(args: string[], out: (text: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { ...DB_OPTION, ...HELP_OPTION, output: { type: "string", short: "o" } },
    allowPositionals: true,
  });
  if (values.help) {
    out(PROFILE_HELP);
    return 0;
  }
  const [id, extra] = positionals;
  if (id === undefined) throw usageError("Give the incident id (see `seismo incidents`).", "profile");
  if (extra !== undefined) throw usageError(`Unexpected "${extra}".`, "profile");
  if (!values.output) throw usageError("Say where to write the profile: -o spike.cpuprofile (or -o - for standard output).", "profile");
  const db = openDatabaseReadOnly(dbPath(values.db));
  try {
    const { incident, profile } = incidentProfile(db, id);
    const text = JSON.stringify(profile);
    if (values.output === "-") {
      process.stdout.write(text);
      return 0;
    }
    try {
      writeFileSync(values.output, text);
    } catch (cause) {
      throw new SeismoError(ErrorCodes.USAGE, `Cannot write ${values.output}: ${(cause as Error).message}.`, { cause });
    }
    out(`${incident.id}: wrote ${profile.samples.length} samples (${profile.nodes.length} stack nodes) to ${values.output}`);
  } finally {
    db.close();
  }
  return 0;
}
