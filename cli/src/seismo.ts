import { SEISMO_VERSION } from "@seismo/daemon";
import { EXIT_USAGE, reportFailure } from "./cli-error.js";
import { analyzerCommand } from "./commands/analyzer.js";
import { attachCommand } from "./commands/attach.js";
import { captureCommand } from "./commands/capture.js";
import { daemonCommand } from "./commands/daemon.js";
import { deploymentsCommand } from "./commands/deployments.js";
import { diffCommand } from "./commands/diff.js";
import { endpointsCommand, queriesCommand } from "./commands/endpoints.js";
import { headsUpCommand } from "./commands/heads-up.js";
import { incidentsCommand } from "./commands/incidents.js";
import { mcpCommand } from "./commands/mcp.js";
import { profileCommand } from "./commands/profile.js";
import { requestsCommand } from "./commands/requests.js";
import { runCommand } from "./commands/run.js";
import { showCommand } from "./commands/show.js";
import { snapshotsCommand } from "./commands/snapshots.js";
import { targetsCommand } from "./commands/targets.js";
import { topCommand } from "./commands/top.js";
import { triageCommand } from "./commands/triage.js";

const HELP = `seismo: see which function is burning your Node.js CPU, with zero code change.

Usage: seismo <verb> [options]      seismo <verb> --help for each verb

On one machine (no broker):
  run -- <command>     start an app under the sensor, with a live top-functions view
  attach <pid>         attach to a running Node.js process
  top                  the hottest functions of a recent period (--json for machines)
  endpoints            HTTP endpoints: calls, errors, latency percentiles per route (--outgoing: calls made)
  queries              database queries (pg, mysql2): calls, failures, latency per statement
  targets              the processes sensors watch: attached, silent or ended
  incidents            CPU spikes and regressions with their culprit functions, newest first
  show <incident-id>   one incident in full: culprit, app line, call chain, evidence
  requests             failed and slow requests, each with its queries, calls and error (show <req-id>)
  profile <incident-id> -o FILE   the spike's high-resolution profile (.cpuprofile)
  deployments          the deployments each service ran
  diff --from A --to B function-level changes between two deployments, with confidence
  snapshots            what a culprit function was working on: its values, captured without pausing
  capture <fn>         capture a function's values now, on its next calls, without pausing

For people on call and AI agents:
  triage <id>|--latest a Markdown brief on an incident: evidence, culprit, line to open, next checks
  heads-up             the daily heads-up: quick wins, regressions, new hot functions (--webhook)
  mcp                  an MCP server over the database (stdio, or --http PORT with a token)

Split across machines (NATS JetStream in between):
  daemon               the sensor: attach to a process, stream to NATS
  analyzer             consume from NATS into SQLite

Environment: SEISMO_DB (database path), SEISMO_NATS_URL, SEISMO_NATS_TOKEN.
Docs: README.md and docs/errors.md in the Seismo repository.`;

const VERBS: Record<string, (args: string[], out: (text: string) => void) => Promise<number>> = {
  run: runCommand,
  attach: attachCommand,
  top: topCommand,
  endpoints: endpointsCommand,
  queries: queriesCommand,
  targets: targetsCommand,
  incidents: incidentsCommand,
  show: showCommand,
  requests: requestsCommand,
  profile: profileCommand,
  deployments: deploymentsCommand,
  diff: diffCommand,
  snapshots: snapshotsCommand,
  capture: captureCommand,
  triage: triageCommand,
  "heads-up": headsUpCommand,
  mcp: mcpCommand,
  daemon: daemonCommand,
  analyzer: analyzerCommand,
};

/** Where a verb's words go: its output, and its one-line failures. */
export interface CliIo {
  out(text: string): void;
  err(line: string): void;
}

/**
 * Runs one `seismo` command line and gives its exit code: 0 fine, 1 a failure, 2 a command line
 * that does not parse. A failure is reported through `io.err` as one line with its code. The
 * process around it (main.ts) sets the exit code; tests call this directly for verbs that only
 * read and print.
 */
export async function seismo(argv: string[], io: CliIo): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === "--help" || verb === "-h" || verb === "help") {
    io.out(HELP);
    return verb === undefined ? EXIT_USAGE : 0;
  }
  if (verb === "--version" || verb === "-v") {
    io.out(SEISMO_VERSION);
    return 0;
  }
  const command = VERBS[verb];
  if (!command) {
    io.err(`seismo: unknown verb "${verb}". Verbs: ${Object.keys(VERBS).join(", ")}. See \`seismo --help\`.`);
    return EXIT_USAGE;
  }
  try {
    return await command(rest, io.out);
  } catch (error) {
    return reportFailure(error, io.err);
  }
}
