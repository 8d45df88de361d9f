import type { ChildProcess } from "node:child_process";
import { spawn } from "node:child_process";
import { parseArgs } from "node:util";
import { describeError } from "@seismo/agent-proto";
import { findNodeInTree } from "@seismo/daemon";
import { usageError } from "../cli-error.js";
import type { Embedded } from "../embedded.js";
import { startEmbedded } from "../embedded.js";
import {
  ANALYSIS_HELP,
  ANALYSIS_OPTIONS,
  analysisSettings,
  DB_HELP,
  DB_OPTION,
  dbPath,
  HELP_OPTION,
  SAMPLING_HELP,
  SAMPLING_OPTIONS,
  samplingSettings,
} from "../options.js";
import { onStopSignal } from "../signals.js";
import { createLiveOutput } from "./live.js";

export const RUN_HELP = `Usage: seismo run [options] -- <command> [args...]

Starts the command (usually \`node app.js\`, or a script that starts node) with
its input and output passed through, attaches the sensor to its Node process,
and shows the hottest functions live. Ctrl-C stops the app; the figures stay in
the database for \`seismo top\`.

Nothing in the app changes: Seismo adds --inspect-port=127.0.0.1:0 to
NODE_OPTIONS (a port choice only; nothing listens until Seismo asks) so that
several processes never fight over port 9229.

Options:
${SAMPLING_HELP}
${ANALYSIS_HELP}
${DB_HELP}
  -h, --help           this help

Example:
  seismo run -- node server.js
  seismo top --since 5m`;

const ATTACH_WAIT_MS = 30_000;

export async function runCommand(args: string[], out: (text: string) => void): Promise<number> {
  const split = args.indexOf("--");
  const own = split < 0 ? args : args.slice(0, split);
  const command = split < 0 ? [] : args.slice(split + 1);
  const { values, positionals } = parseArgs({
    args: own,
    options: { ...DB_OPTION, ...SAMPLING_OPTIONS, ...ANALYSIS_OPTIONS, ...HELP_OPTION },
    allowPositionals: true,
  });
  if (values.help) {
    out(RUN_HELP);
    return 0;
  }
  if (positionals.length > 0) throw usageError(`Put the command after "--": seismo run -- ${positionals.join(" ")}`, "run");
  if (command.length === 0) throw usageError("Give the command to run after --, e.g. seismo run -- node app.js.", "run");
  const sampling = samplingSettings(values, "run");
  const analysis = analysisSettings(values, "run");
  const db = dbPath(values.db);
  const interactive = Boolean(process.stderr.isTTY);
  const live = createLiveOutput(interactive);

  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: withInspectPort(process.env.NODE_OPTIONS) };
  if (interactive && env.FORCE_COLOR === undefined && process.stdout.isTTY) env.FORCE_COLOR = "1";
  const child = spawn(command[0] as string, command.slice(1), { env, stdio: interactive ? ["inherit", "pipe", "pipe"] : "inherit" });
  if (interactive) {
    child.stdout?.on("data", (chunk: Buffer) => live.view.write(process.stdout, chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => live.view.write(process.stderr, chunk.toString()));
  }
  const exited = new Promise<number>((resolve) => {
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 + signalNumber(signal) : 1)));
    child.on("error", (error) => {
      live.log.error(`cannot start ${command[0]}: ${error.message}`);
      resolve(127);
    });
  });

  let embedded: Embedded | undefined;
  let stopRequested = false;
  const removeSignals = onStopSignal((signal) => {
    stopRequested = true;
    void stopChild(child, signal, exited, interactive);
  });

  const attaching = attachWhenReady(child, exited).then(async (pid) => {
    if (pid === undefined || stopRequested) return;
    try {
      embedded = await startEmbedded({ dbPath: db, pid, sampling, analysis, log: live.log, onTop: live.onTop });
    } catch (error) {
      live.log.error(`${describeError(error)} The app keeps running without the sensor.`);
    }
  });

  const code = await exited;
  await attaching;
  if (embedded) {
    // The target is gone or going: the sensor sees it leave and publishes the last window.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([embedded.sensor.done, new Promise((r) => (timer = setTimeout(r, 3_000)))]);
    clearTimeout(timer);
    await embedded.shutdown();
  }
  removeSignals();
  live.view.close();
  process.stderr.write(`[seismo] ${command[0]} exited (${code}); data in ${db} (try \`seismo top --db ${db}\`)\n`);
  return code;
}

/** Adds a free-port choice for the inspector, unless the user already chose one (theirs wins). */
export function withInspectPort(nodeOptions: string | undefined): string {
  const current = nodeOptions ?? "";
  if (/(^|\s)--(inspect-port|inspect|inspect-brk|inspect-wait|debug-port)(=|\s|$)/.test(current)) return current;
  return `${current} --inspect-port=127.0.0.1:0`.trim();
}

/** The Node process to attach to: the child itself, or the first node under it (npm start, a shell script). */
async function attachWhenReady(child: ChildProcess, exited: Promise<number>): Promise<number | undefined> {
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const deadline = Date.now() + ATTACH_WAIT_MS;
  while (!gone && child.pid !== undefined && Date.now() < deadline) {
    const pid = findNodeInTree(child.pid);
    if (pid !== undefined) return pid;
    await new Promise((r) => setTimeout(r, 100));
  }
  return undefined;
}

/** On a terminal, Ctrl-C already reached the child (same process group): give it time to exit, then insist. */
async function stopChild(child: ChildProcess, signal: NodeJS.Signals, exited: Promise<number>, fromTerminal: boolean): Promise<void> {
  const within = (ms: number): Promise<boolean> =>
    Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);
  if (signal !== "SIGINT" || !fromTerminal) child.kill(signal);
  if (await within(3_000)) return;
  child.kill("SIGTERM");
  if (await within(5_000)) return;
  child.kill("SIGKILL");
}

function signalNumber(signal: NodeJS.Signals): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };
  return numbers[signal] ?? 0;
}
