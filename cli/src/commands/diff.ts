import { parseArgs } from "node:util";
import type { FunctionChange } from "@seismo/analyzer";
import { describeChange, diffDeployments, openDatabaseReadOnly } from "@seismo/analyzer";
import { usageError } from "../cli-error.js";
import { DB_HELP, DB_OPTION, dbPath, HELP_OPTION } from "../options.js";

export const DIFF_HELP = `Usage: seismo diff --from DEPLOYMENT --to DEPLOYMENT [--service NAME] [--all] [--json] [--db PATH]

Function-level comparison of two deployments of a service: which functions got
slower or faster, which are new or gone, by how much, and how sure Seismo is
(a 95 % confidence interval), largest changes first.

The measure is each function's time relative to the rest of the CPU work in
the same windows, so more traffic with the same mix is no change, and a
function 30 % slower is +30 %. A change is reported when its whole interval is
beyond ±10 %; each side needs 12 windows before anything is said.

Caution: the interval counts the noise between windows. When each deployment
ran as a single process, it does not count how much the same code differs
from one process to the next (measured: up to ±15 % for one function), so a
change below ~40 % from one process to one process is not proven.

Options:
  --from, --to         the deployments (see \`seismo deployments\`; "" for unlabelled)
  --service NAME       needed when several services share these labels
  --all                list unchanged functions too
  --json               { service, from, to, windowsA, windowsB, enough, changes: [{ key, name,
                       file, line, package, packageVersion, shareA, shareB, ratio, ciLow,
                       ciHigh, kind }] }, kind one of slower, faster, new, gone, unchanged
${DB_HELP}
  -h, --help           this help`;

function pct(share: number): string {
  return `${(share * 100).toFixed(1)} %`;
}

function row(c: FunctionChange): string {
  const where = c.package ? `${c.package}${c.packageVersion ? `@${c.packageVersion}` : ""}` : `${c.file}:${c.line}`;
  return `${c.kind.padEnd(9)} ${describeChange(c).padEnd(32)} ${pct(c.shareA).padStart(7)} → ${pct(c.shareB).padEnd(7)}  ${c.name}  ${where}`;
}

export async function diffCommand(args: string[], out: (text: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      ...DB_OPTION,
      ...HELP_OPTION,
      from: { type: "string" },
      to: { type: "string" },
      service: { type: "string" },
      all: { type: "boolean" },
      json: { type: "boolean" },
    },
    allowPositionals: true,
  });
  if (values.help) {
    out(DIFF_HELP);
    return 0;
  }
  if (positionals.length > 0) throw usageError(`Unexpected "${positionals[0]}".`, "diff");
  if (values.from === undefined || values.to === undefined) throw usageError("Give both --from and --to (see `seismo deployments`).", "diff");
  const db = openDatabaseReadOnly(dbPath(values.db));
  try {
    const diff = diffDeployments(db, { service: values.service, from: values.from, to: values.to });
    if (values.json) {
      out(JSON.stringify(diff, (_k, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2));
      return 0;
    }
    out(`${diff.service}: ${diff.from || "(none)"} (${diff.windowsA} windows) → ${diff.to || "(none)"} (${diff.windowsB} windows)`);
    if (!diff.enough) out("Not enough windows on one side yet (12 each) to say anything with confidence.");
    const shown = values.all ? diff.changes : diff.changes.filter((c) => c.kind !== "unchanged");
    if (shown.length === 0 && diff.enough) out("No function changed by more than ±10 % (95 % confidence).");
    for (const c of shown) out(row(c));
  } finally {
    db.close();
  }
  return 0;
}
