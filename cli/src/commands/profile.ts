import { writeFileSync } from "node:fs";
import { ErrorCodes, SeismoError } from "@seismo/agent-proto";
import type { ExportedAttribution } from "@seismo/analyzer";
import { incidentProfile, openDatabaseReadOnly, toPprof } from "@seismo/analyzer";
import { usageError } from "../cli-error.js";
import { verbArgs } from "../verb-args.js";
import { DB_HELP, DB_OPTION, dbPath } from "../options.js";

export const PROFILE_HELP = `Usage: seismo profile <incident-id> -o FILE [--format cpuprofile|pprof] [--db PATH]

Writes the high-resolution profile taken during a CPU spike, as a Chrome
.cpuprofile (open it in Chrome DevTools, Performance panel, "Load profile", or
on https://www.speedscope.app) or as pprof (gzipped profile.proto, for
Pyroscope, Grafana and \`go tool pprof\`).

The tree is Seismo's reading of V8's, as \`seismo top\` shows it: V8 charges
the time of a function it inlined to the caller, and Seismo gives it back on a
node of its own, named "… [inlined]"; a node whose time may still include
inlined code Seismo could not place is named "… [+inlined?]". Anonymous
functions are named by where they sit ("(anonymous) router.get('/x', …)").
A sensor started with --as-v8-charged stores V8's tree as it was.

Options:
  -o, --output FILE    where to write it (- for standard output)
  --format F           cpuprofile or pprof (default: pprof for a .pb.gz, .pprof or .pb file name,
                       else cpuprofile)
${DB_HELP}
  -h, --help           this help`;

export async function profileCommand(args: string[], out: (text: string) => void): Promise<number> {
  const parsed = verbArgs("profile", args, { ...DB_OPTION, output: { type: "string", short: "o" }, format: { type: "string" } }, PROFILE_HELP, out, 1);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const [id] = positionals;
  if (id === undefined) throw usageError("Give the incident id (see `seismo incidents`).", "profile");
  if (!values.output) throw usageError("Say where to write the profile: -o spike.cpuprofile (or -o - for standard output).", "profile");
  const format = values.format ?? (/\.(pb\.gz|pprof|pb)$/.test(values.output) ? "pprof" : "cpuprofile");
  if (format !== "pprof" && format !== "cpuprofile") throw usageError(`--format is cpuprofile or pprof, not "${format}".`, "profile");
  const db = openDatabaseReadOnly(dbPath(values.db));
  try {
    const { incident, profile, attribution } = incidentProfile(db, id);
    const startedAtMs = incident.kind === "cpu_spike" ? Date.parse(incident.details.burst.startedAt) : undefined;
    const inferred = describeInference(attribution);
    const bytes =
      format === "pprof"
        ? toPprof(profile, { ...(startedAtMs === undefined ? {} : { startedAtMs }), comments: [`${incident.id}, exported by Seismo`, ...(inferred ? [inferred] : [])] })
        : JSON.stringify(profile);
    if (values.output === "-") {
      process.stdout.write(bytes);
      return 0;
    }
    try {
      writeFileSync(values.output, bytes);
    } catch (cause) {
      throw new SeismoError(ErrorCodes.USAGE, `Cannot write ${values.output}: ${(cause as Error).message}.`, { cause });
    }
    out(`${incident.id}: wrote ${profile.samples.length} samples (${profile.nodes.length} stack nodes) to ${values.output} as ${format}${inferred ? `\n${inferred}` : ""}`);
  } finally {
    db.close();
  }
  return 0;
}

/** What of the exported tree Seismo inferred, in a sentence; "" when it is V8's as it was. */
function describeInference(attribution: ExportedAttribution): string {
  const parts: string[] = [];
  if (attribution.inlinedNodes > 0) {
    parts.push(`${attribution.inlinedSamples} samples V8 charged to callers are on ${attribution.inlinedNodes} nodes of the functions it inlined into them ("… [inlined]")`);
  }
  if (attribution.uncertainSamples > 0) parts.push(`${attribution.uncertainSamples} samples on callers may be inlined code Seismo could not place ("… [+inlined?]")`);
  return parts.length ? `Inferred by Seismo, not V8: ${parts.join("; ")}.` : "";
}
