import type { FunctionChange } from "@seismo/analyzer";
import { attributionShares, DEFAULT_COMPARE_SETTINGS, describeChange, describeDistributionChange, describeEndpointChange, diffDeployments, openDatabaseReadOnly, INLINED_LEGEND, MARK_SHARE, markedName, uncertainLegend } from "@seismo/analyzer";
import { usageError } from "../cli-error.js";
import { verbArgs } from "../verb-args.js";
import { DB_HELP, DB_OPTION, dbPath } from "../options.js";

export const DIFF_HELP = `Usage: seismo diff --from DEPLOYMENT --to DEPLOYMENT [--service NAME] [--all] [--json] [--db PATH]

Function-level comparison of two deployments of a service: which functions got
slower or faster, which are new or gone, by how much, and how sure Seismo is
(a 95 % confidence interval), largest changes first.

The measure is each function's time in the second deployment over its time
in the first, divided by the same ratio for the typical function (the median
over functions present in both, weighted by CPU share). More traffic, or a
longer period, changes every function alike and cancels out; a function 30 %
slower with the rest unchanged is +30 %, and the rest stay at 0 %.

The interval comes from resampling processes, then windows within them. A
change is reported when it is at least ±10 % and its interval excludes no
change at a 1 % error rate shared by all the functions compared (so comparing
40 functions is not 40 chances of a false alarm). Each side needs 12 windows.
With one process a side, the interval cannot count how much the same code
differs between processes; the ±10 % floor is there for that.

A function marked * had time V8 charged to the function it was inlined into,
moved back by Seismo; ? marks one whose time may include inlined code of other
functions (see \`seismo top --help\`).

With 100 windows or more a side, it also lists what averages hide: a rare
slow path (a function far above anything it did before, in a few windows) and
an unstable cost (swinging from window to window far more than before).

Options:
  --from, --to         the deployments (see \`seismo deployments\`; "" for unlabelled)
  --service NAME       needed when several services share these labels
  --all                list unchanged functions too
  --json               { service, from, to, windowsA, windowsB, groupsA, groupsB, enough, compared, processSpread,
                       changes: [{ key, name, file, line, package, packageVersion, shareA, shareB,
                       ratio, ciLow, ciHigh, z, totalRatio, kind, attribution: { selfSamples,
                       inlinedSamples, uncertainSamples } }], distribution: [{ key, name,
                       file, kind, tailWindows, windowsB, threshold, tailShare, dispersionRatio }] },
                       kind one of slower, faster, new, gone, unchanged; rare_slow_path, unstable
${DB_HELP}
  -h, --help           this help`;

function pct(share: number): string {
  return `${(share * 100).toFixed(1)} %`;
}

function row(c: FunctionChange): string {
  const where = c.package ? `${c.package}${c.packageVersion ? `@${c.packageVersion}` : ""}` : `${c.file}:${c.line}`;
  return `${c.kind.padEnd(9)} ${describeChange(c).padEnd(32)} ${pct(c.shareA).padStart(7)} → ${pct(c.shareB).padEnd(7)}  ${markedName({ name: c.name, ...attributionShares(c.attribution) })}  ${where}`;
}

export async function diffCommand(args: string[], out: (text: string) => void): Promise<number> {
  const parsed = verbArgs("diff", args, {
    ...DB_OPTION,
    from: { type: "string" },
    to: { type: "string" },
    service: { type: "string" },
    all: { type: "boolean" },
    json: { type: "boolean" },
  }, DIFF_HELP, out);
  if (!parsed) return 0;
  const { values } = parsed;
  if (values.from === undefined || values.to === undefined) throw usageError("Give both --from and --to (see `seismo deployments`).", "diff");
  const db = openDatabaseReadOnly(dbPath(values.db));
  try {
    const diff = diffDeployments(db, { service: values.service, from: values.from, to: values.to });
    if (values.json) {
      out(JSON.stringify(diff, (_k, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2));
      return 0;
    }
    const processes = (n: number): string => (n > 1 ? `, ${n} processes` : "");
    out(
      `${diff.service}: ${diff.from || "(none)"} (${diff.windowsA} windows${processes(diff.groupsA)}) → ${diff.to || "(none)"} (${diff.windowsB} windows${processes(diff.groupsB)})`,
    );
    if (!diff.enough) out("Not enough windows on one side yet (12 each) to say anything with confidence.");
    const loadShifted = Math.abs(Math.log(diff.loadRatio)) >= Math.log(DEFAULT_COMPARE_SETTINGS.loadShiftRatio);
    if (loadShifted) {
      out(
        `The load differs: ${diff.to || "(none)"} used ${diff.loadRatio.toFixed(1)}x the CPU per window of ${diff.from || "(none)"}. ` +
          `A profile reads the same code differently under another load, so the intervals include a spread of at least ±${Math.round((Math.exp(DEFAULT_COMPARE_SETTINGS.loadShiftSpread) - 1) * 100)} %.`,
      );
    }
    if (diff.processSpread > 0 && !(loadShifted && diff.processSpread <= DEFAULT_COMPARE_SETTINGS.loadShiftSpread)) {
      out(
        `The same function moves about ±${Math.round((Math.exp(diff.processSpread) - 1) * 100)} % between two processes here ` +
          "(from the spread of the unchanged functions); the intervals include it.",
      );
    }
    const shown = values.all ? diff.changes : diff.changes.filter((c) => c.kind !== "unchanged");
    if (shown.length === 0 && diff.distribution.length === 0 && diff.enough) out("No function changed by more than ±10 % with confidence.");
    for (const c of shown) out(row(c));
    const marked = shown.map((c) => ({ c, shares: attributionShares(c.attribution) }));
    if (marked.some(({ shares }) => shares.inlinedShare >= MARK_SHARE)) out(INLINED_LEGEND);
    for (const { c, shares } of marked) if (shares.uncertainShare >= MARK_SHARE) out(uncertainLegend(c.name, `${c.file}:${c.line}`, shares.uncertainShare, []));
    for (const d of diff.distribution) out(`${d.kind.padEnd(14)} ${d.name}  ${d.file}:${d.line}: ${describeDistributionChange(d)}`);
    const endpoints = values.all ? diff.endpoints : diff.endpoints.filter((e) => e.kind !== "unchanged");
    if (endpoints.length > 0) {
      out("\nEndpoints, outgoing calls and queries (2x slower with the interval above +50 %, or a jump in failures, over 350 calls a side):");
      for (const e of endpoints) out(`${e.kind.padEnd(9)} ${describeEndpointChange(e).replaceAll("`", "")}  ${e.callsA} → ${e.callsB} calls`);
    }
  } finally {
    db.close();
  }
  return 0;
}
