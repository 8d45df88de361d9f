import { openDatabaseReadOnly, parseDuration, topFunctions } from "@seismo/analyzer";
import { limitOf, verbArgs } from "../verb-args.js";
import { DB_HELP, DB_OPTION, dbPath } from "../options.js";
import { terminalColumns } from "../render/terminal.js";
import { attributionNotes, renderTopTable } from "../render/top-table.js";

export const TOP_HELP = `Usage: seismo top [--since DURATION] [--service NAME] [--limit N] [--json] [--db PATH]

The hottest functions by self CPU time over a recent period, from the database
that \`seismo run\`, \`seismo attach\` or \`seismo analyzer\` fills.

Options:
  --since DURATION     how far back (default 5m): 30s, 5m, 2h, 7d
  --service NAME       only this service
  --limit N            rows (default 20)
  --json               a JSON array, hottest first: name, file, line, package,
                       packageVersion, selfMs, totalMs, selfShare, samples, ...
${DB_HELP}
  -h, --help           this help

Shares are of all sampled CPU time in the period, idle and GC excluded.

V8's profiler charges a function that was inlined to the function it was
inlined into. Seismo gives that time back from the source lines V8 reports:
"name *" marks a function with time moved back to it (inlinedShare in
--json), "name ?" one whose time may partly be inlined code it cannot name
for sure (uncertainShare, inlineCandidates). --as-v8-charged on run, attach
and daemon keeps V8's own figures.`;

export async function topCommand(args: string[], out: (text: string) => void): Promise<number> {
  const parsed = verbArgs("top", args, {
    ...DB_OPTION,
    since: { type: "string" },
    service: { type: "string" },
    limit: { type: "string" },
    json: { type: "boolean" },
  }, TOP_HELP, out);
  if (!parsed) return 0;
  const { values } = parsed;
  const limit = limitOf(values.limit, 20, "top");
  const sinceMs = Date.now() - parseDuration(values.since ?? "5m");
  const db = openDatabaseReadOnly(dbPath(values.db));
  try {
    const result = topFunctions(db, { sinceMs, service: values.service, limit });
    if (values.json) {
      out(JSON.stringify(result.functions, null, 2));
    } else if (result.windows === 0) {
      out(`No profile windows since ${new Date(sinceMs).toISOString()}. Try a longer --since, or check that a sensor is attached.`);
    } else {
      out(`${result.windows} window(s), ${(result.cpuMs / 1_000).toFixed(1)} s of CPU since ${new Date(sinceMs).toISOString()}\n`);
      out(renderTopTable(result, { width: terminalColumns(process.stdout, 160), cwd: process.cwd() }).join("\n"));
      const notes = attributionNotes(result, process.cwd());
      if (notes.length > 0) out(`\n${notes.join("\n")}`);
    }
  } finally {
    db.close();
  }
  return 0;
}
