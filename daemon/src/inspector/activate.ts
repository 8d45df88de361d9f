import { readFileSync } from "node:fs";
import { basename, isAbsolute } from "node:path";
import { parseEnv } from "node:util";
import { ErrorCodes, SeismoError } from "@seismo/agent-proto";
import { ephemeralPortRange, listeningSocketsIn, listeningSocketsOf } from "../target/listening-sockets.js";
import { catchesSignal, processExists, readCmdline, readEnviron, readExe, readProcStatus, SIGUSR1_NUMBER } from "../target/proc.js";
import type { ListeningSocket } from "../target/listening-sockets.js";
import type { InspectorEndpoint } from "./endpoint.js";
import { DEFAULT_EPHEMERAL_PORTS, findInspectorAmong, inspectorCandidates } from "./endpoint.js";
import { closeInspectorAtOnce } from "./lease.js";
import { connectInspector } from "./session.js";
import { envFilesOf, inspectorBlocker, inspectorSettings, nodeOptionsOfArgv, splitNodeOptions } from "./node-options.js";

export interface ActivateOptions {
  /** How long to wait for the inspector to listen after SIGUSR1. */
  timeoutMs?: number;
  /** How long to wait for a just-started process to install its SIGUSR1 handler. */
  handlerWaitMs?: number;
}

/** Where the inspector listens, and whether Seismo opened it (then Seismo closes it again when it leaves). */
export interface OpenedInspector extends InspectorEndpoint {
  openedBySeismo: boolean;
}

export function looksLikeNode(exe: string, argv: string[]): boolean {
  const names = [basename(exe), basename(argv[0] ?? "")];
  return names.some((name) => /^node(js)?(\d+(\.\d+)*)?$/i.test(name.replace(/ \(deleted\)$/, "")));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Makes sure a Node process's inspector is open on loopback and returns where.
 * Refuses, with the reason and the fix, whenever opening it could harm the
 * process (a SIGUSR1 it does not handle would kill it) or expose it.
 */
export async function openInspector(pid: number, options: ActivateOptions = {}): Promise<OpenedInspector> {
  if (!Number.isInteger(pid) || pid <= 0) {
    throw new SeismoError(ErrorCodes.USAGE, `"${pid}" is not a process id.`, { hint: "Give a positive integer, e.g. seismo attach 4242." });
  }
  if (!processExists(pid)) {
    throw new SeismoError(ErrorCodes.TARGET_NOT_FOUND, `No process with pid ${pid}.`, {
      hint: "Check the pid with `ps -ef | grep node`; in Kubernetes the sidecar needs shareProcessNamespace: true.",
    });
  }
  const argv = readCmdline(pid);
  if (!looksLikeNode(readExe(pid), argv)) {
    throw new SeismoError(ErrorCodes.TARGET_NOT_NODE, `Process ${pid} (${basename(argv[0] ?? "?")}) is not a Node.js process.`, {
      hint: "Give the pid of the node process itself, not a shell or npm wrapper (`pgrep -a node`).",
    });
  }

  const commandLine = nodeOptionsOfArgv(argv);
  const environ = readEnviron(pid).get("NODE_OPTIONS");
  // A variable already in the environment wins over an env file's, as in Node.
  const nodeOptions = splitNodeOptions(environ ?? envFileNodeOptions(pid, envFilesOf(commandLine)) ?? "");
  const settings = inspectorSettings([...nodeOptions, ...commandLine]);
  const blocker = inspectorBlocker(settings);
  if (blocker) {
    throw new SeismoError(
      blocker.kind === "disabled" ? ErrorCodes.INSPECTOR_BLOCKED : ErrorCodes.INSPECTOR_NOT_LOOPBACK,
      `Cannot attach to process ${pid}: ${blocker.reason}.`,
      { hint: blocker.fix },
    );
  }

  // Only the inspector's own port is asked whether it is one (see inspectorCandidates).
  const port = settings.port ?? DEFAULT_INSPECTOR_PORT;
  const ephemeral = ephemeralPortRange() ?? DEFAULT_EPHEMERAL_PORTS;
  const candidates = (sockets: ListeningSocket[]): ListeningSocket[] => inspectorCandidates(sockets, port, ephemeral);
  const before = listeningSocketsOf(pid);
  const alreadyOpen = await findInspectorAmong(candidates(before.filter((s) => s.loopback)));
  if (alreadyOpen) return { ...alreadyOpen, openedBySeismo: false };

  // Processes that would open their inspector on the same fixed port (9229 unless told otherwise)
  // are activated one at a time: the first takes the port, and the others are then not signalled.
  if (port === 0) return signalAndWait(pid, before, candidates, options);
  const previous = activating.get(port) ?? Promise.resolve();
  const mine = previous.catch(() => undefined).then(() => {
    const holder = listeningSocketsIn(pid).find((s) => s.port === port && (s.loopback || s.address === "0.0.0.0" || s.address === "::"));
    if (holder) {
      throw new SeismoError(ErrorCodes.INSPECTOR_PORT_TAKEN, `Process ${pid} would open its inspector on port ${port}, which another process already listens on.`, {
        hint: "Start the app's processes with --inspect-port=0 (e.g. NODE_OPTIONS=--inspect-port=0): each then opens a free port, and Seismo finds it.",
      });
    }
    return signalAndWait(pid, before, candidates, options);
  });
  activating.set(port, mine);
  try {
    return await mine;
  } finally {
    if (activating.get(port) === mine) activating.delete(port);
  }
}

/**
 * NODE_OPTIONS as the process's env files set it (the last file that sets it wins), read through
 * its own cwd. A file Seismo cannot read (gone, another mount) says nothing: the check after the
 * signal still closes an inspector that opens beyond loopback.
 */
function envFileNodeOptions(pid: number, files: string[]): string | undefined {
  let found: string | undefined;
  for (const file of files) {
    try {
      const text = readFileSync(isAbsolute(file) ? `/proc/${pid}/root${file}` : `/proc/${pid}/cwd/${file}`, "utf8");
      const value = parseEnv(text).NODE_OPTIONS;
      if (value !== undefined) found = value;
    } catch {
      // unreadable: see above
    }
  }
  return found;
}

const DEFAULT_INSPECTOR_PORT = 9229;
/** The activation under way per fixed inspector port, in this process. */
const activating = new Map<number, Promise<OpenedInspector>>();

/** SIGUSR1, once, then the new loopback inspector among the process's own listening sockets. */
async function signalAndWait(
  pid: number,
  before: ListeningSocket[],
  candidates: (sockets: ListeningSocket[]) => ListeningSocket[],
  options: ActivateOptions,
): Promise<OpenedInspector> {
  await waitForSignalHandler(pid, options.handlerWaitMs ?? 0);
  try {
    process.kill(pid, "SIGUSR1");
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === "ESRCH")
      throw new SeismoError(ErrorCodes.TARGET_NOT_FOUND, `Process ${pid} exited before Seismo could attach.`, { cause });
    throw new SeismoError(ErrorCodes.TARGET_NOT_PERMITTED, `Not allowed to signal process ${pid}.`, {
      cause,
      hint: "Run Seismo as the same user as the target (same runAsUser in Kubernetes).",
    });
  }

  const known = new Set(before.map((s) => s.inode));
  const deadline = Date.now() + (options.timeoutMs ?? 5_000);
  while (Date.now() < deadline) {
    await sleep(50);
    if (!processExists(pid)) throw new SeismoError(ErrorCodes.TARGET_NOT_FOUND, `Process ${pid} exited while its inspector was opening.`);
    const fresh = listeningSocketsOf(pid).filter((s) => !known.has(s.inode));
    const exposed = fresh.find((s) => !s.loopback);
    if (exposed && !fresh.some((s) => s.loopback)) {
      // Its address came from where the pre-check cannot see (an --env-file, say). Never used,
      // and not left open: Seismo's signal opened it.
      const closed = await closeExposed(pid, exposed);
      throw new SeismoError(
        ErrorCodes.INSPECTOR_NOT_LOOPBACK,
        `Process ${pid} opened its inspector on ${exposed.address}:${exposed.port}, beyond loopback; ${closed}.`,
        {
          hint: "Its Node options set a public inspect address (look in NODE_OPTIONS, the command line and any --env-file): set --inspect-port=127.0.0.1:0 instead.",
        },
      );
    }
    const found = await findInspectorAmong(candidates(fresh.filter((s) => s.loopback)), 500);
    if (found) return { ...found, openedBySeismo: true };
  }
  throw new SeismoError(
    ErrorCodes.INSPECTOR_TIMEOUT,
    `Process ${pid} did not open its inspector within ${options.timeoutMs ?? 5_000} ms of SIGUSR1.`,
    {
      hint:
        "Its port may be taken by another process (use --inspect-port=0 in NODE_OPTIONS), or its event loop is stuck in native code. " +
        "If the app opened its inspector itself (inspector.open) on a port its Node options do not name, Seismo does not probe its other ports: " +
        "give `seismo daemon --inspector` the webSocketDebuggerUrl from http://127.0.0.1:<port>/json/list.",
    },
  );
}

/**
 * Closes an inspector that opened on all interfaces, through loopback (a wildcard bind accepts
 * it): what to say about it in the refusal.
 */
async function closeExposed(pid: number, exposed: ListeningSocket): Promise<string> {
  if (exposed.address !== "0.0.0.0" && exposed.address !== "::") {
    return `Seismo could not close it (it listens on that address only, not on loopback): restart the process`;
  }
  try {
    const endpoint = await findInspectorAmong([exposed], 1_000);
    if (!endpoint) return "Seismo could not reach it to close it: restart the process";
    const session = await connectInspector(endpoint.webSocketDebuggerUrl, { connectTimeoutMs: 2_000, commandTimeoutMs: 2_000 });
    await closeInspectorAtOnce(session, { pid, port: exposed.port });
    return "Seismo closed it again at once, unused";
  } catch (error) {
    return `Seismo could not close it (${(error as Error).message}): restart the process`;
  }
}

/**
 * Node installs its SIGUSR1 handler early in start-up; before that (or with
 * the handler disabled) the signal's default action would terminate it. So:
 * never signal a process that does not catch SIGUSR1.
 */
async function waitForSignalHandler(pid: number, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    if (catchesSignal(readProcStatus(pid), SIGUSR1_NUMBER)) return;
    if (Date.now() >= deadline) break;
    await sleep(20);
  }
  throw new SeismoError(
    ErrorCodes.INSPECTOR_BLOCKED,
    `Cannot attach to process ${pid}: it does not handle SIGUSR1, so the signal would kill it.`,
    {
      hint: "It may run with --disable-sigusr1 or a custom signal mask; restart it without, or start it with --inspect-port=0 and give Seismo the inspector URL.",
    },
  );
}
