import { hostname } from "node:os";
import { isAbsolute, resolve } from "node:path";
import type { TargetRef } from "@seismo/agent-proto";
import { ErrorCodes, SeismoError } from "@seismo/agent-proto";
import type { Db, SnapshotView } from "@seismo/analyzer";
import { EventStore, fileOfFunction, knownTargetOf, listSnapshots, liveTargets, liveTargetsRunning, openDatabase, openDatabaseReadOnly, parseDuration, targetFile } from "@seismo/analyzer";
import type { ArmedProbe } from "@seismo/daemon";
import { Captures, connectInspector, createLogger, describeOutcome, InspectorHold, isWarning, openInspector, processStartMs, targetFileReader } from "@seismo/daemon";
import { usageError } from "../cli-error.js";
import { verbArgs } from "../verb-args.js";
import { DB_HELP, DB_OPTION, dbPath, NATS_HELP, NATS_OPTIONS, natsSettings, parsePid, redactNames } from "../options.js";
import { renderSnapshot } from "../render/snapshot.js";
import { onStopSignal } from "../signals.js";
import { captureRemote } from "./capture-remote.js";

export const CAPTURE_HELP = `Usage: seismo capture <function | function@file | file:line> [--pid PID] [options]
       seismo capture <function | function@file | file:line> --service NAME --nats URL --db PATH [options]

Captures what a function is working on in a running Node.js process: its
arguments, locals, closure values and \`this\`, on its next calls, without
pausing the process. Waits until the hits are captured (or the time-to-live
ends, or Ctrl-C), stores the snapshots in the database and prints them.

On this machine, Seismo opens the process's inspector itself: the one given
with --pid or, without it, the one live process here whose profiles in the
database ran the function (beside \`seismo run\`, the app it runs); when
several did, it lists them.
With --service (or --target), wherever the processes run: the analyzer's
database says which daemons watch the service's live processes, each is asked
over NATS to arm the capture, and the snapshots come back to the database
through the analyzer (which must be running). Files are as the processes see
them; a relative path is matched against the files in the database.

The values are cut to limits (depth 3, 20 fields, 100 items, 255 characters,
each cut marked) and secrets are redacted, by name in the process and by shape
before anything is stored.

Where:
  renderInvoice               a function seen in the database's profiles for one file
  renderInvoice@src/inv.js    a function in a file (relative to here, or absolute)
  src/inv.js:42               a line (the names visible there are captured)

Options:
  --pid PID            the process (same user; its inspector opens on 127.0.0.1); default:
                       the one live process here whose profiles ran the function
  --service NAME       every live process of the service, through their daemons (at most 10)
  --target ID          one target, by its id (\`seismo targets\`), through its daemon
  --hits N             snapshots to take (default 5)
  --every DURATION     at most one snapshot per this long (e.g. 100ms, 2s), so that the hits
                       come from calls spread over time; between two, the function runs free
                       (no breakpoint). Default 0: the next calls, one after another
  --ttl DURATION       give up after this long (default 60s)
  --json               the snapshots as a JSON array (the shape of \`seismo snapshots --json\`)
  --redact NAMES       more names to redact, comma-separated (default: $SEISMO_REDACT; with --pid only:
                       a daemon redacts with its own --redact)
${DB_HELP}
${NATS_HELP}
  -h, --help           this help`;

interface Where {
  file: string;
  line?: number;
  functionName?: string;
}

function absolute(file: string): string {
  return isAbsolute(file) ? file : resolve(process.cwd(), file);
}

/** `resolveFile` turns the file the user typed into the path the process sees. */
export function parseWhere(text: string, db: Db | undefined, resolveFile: (file: string) => string = absolute): Where {
  const at = text.lastIndexOf("@");
  if (at > 0) return { functionName: text.slice(0, at), file: resolveFile(text.slice(at + 1)) };
  const line = /^(.+):(\d+)$/.exec(text);
  if (line) return { file: resolveFile(line[1] as string), line: Number(line[2]) };
  if (/^[\w$]+$/.test(text) && db) return { functionName: text, file: fileOfFunction(db, text) };
  throw usageError(`"${text}" is not a function, function@file or file:line.`, "capture");
}

/** The target as the database knows it (service, deployment), else as little as is sure. */
function targetRef(db: Db, pid: number): TargetRef {
  const known = knownTargetOf(db, pid);
  return {
    // Per run, like a sensor's attach: probe ids restart at 1 each time.
    targetId: `capture:${pid}:${Math.round(processStartMs(pid))}:${Date.now().toString(36)}`,
    daemonId: "capture",
    service: known?.service ?? "node",
    deployment: known?.deployment ?? "",
    pid,
    host: hostname(),
    pod: "",
    namespace: "",
  };
}

/**
 * Without --pid: the one live process on this machine whose profiles ran the function (the
 * usual case beside `seismo run`). None, or several, is said with what to give instead.
 */
function localPid(db: Db, where: Where, text: string): number {
  const running = liveTargetsRunning(db, where, hostname()).filter((t) => sameProcess(t.pid, t.processStartMs));
  const [only] = running;
  if (only && running.length === 1) return only.pid;
  if (running.length === 0) {
    throw new SeismoError(ErrorCodes.NOT_FOUND, `No live process on this machine ran ${text} in the database's profiles.`, {
      hint: "Give --pid for a process here, or --service NAME (with --nats) for processes that daemons watch elsewhere.",
    });
  }
  const list = running.map((t) => `pid ${t.pid} (${t.service}${t.deployment ? ` ${t.deployment}` : ""})`).join(", ");
  throw usageError(`Several live processes ran ${text}: ${list}. Give --pid to choose one, or --service with --nats for all of them.`, "capture");
}

/** The pid is still the process the database saw (not a later one that got the same number). */
function sameProcess(pid: number, startMs: number): boolean {
  try {
    return Math.abs(processStartMs(pid) - startMs) < 1_000;
  } catch {
    return false;
  }
}

export async function captureCommand(args: string[], out: (text: string) => void): Promise<number> {
  const parsed = verbArgs("capture", args, {
    ...DB_OPTION,
    pid: { type: "string" },
    hits: { type: "string" },
    ttl: { type: "string" },
    every: { type: "string" },
    json: { type: "boolean" },
    redact: { type: "string" },
    service: { type: "string" },
    target: { type: "string" },
    ...NATS_OPTIONS,
  }, CAPTURE_HELP, out, 1);
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const [where] = positionals;
  if (where === undefined) throw usageError("Say where to capture: a function, function@file or file:line.", "capture");
  const remote = values.service !== undefined || values.target !== undefined;
  if (remote && values.pid !== undefined) throw usageError("Give --pid (a process here) or --service/--target (through the daemons), not both.", "capture");
  const hits = values.hits === undefined ? 5 : Number(values.hits);
  if (!Number.isInteger(hits) || hits < 1 || hits > 100) throw usageError(`--hits must be a whole number from 1 to 100, not "${values.hits}".`, "capture");
  const ttlMs = parseDuration(values.ttl ?? "60s");
  const minIntervalMs = parseDuration(values.every ?? "0");
  if (minIntervalMs * (hits - 1) > ttlMs) throw usageError(`${hits} hits ${values.every ?? ""} apart take longer than --ttl ${values.ttl ?? "60s"}: give a longer --ttl or fewer --hits.`, "capture");
  const log = createLogger("seismo");
  if (remote) {
    const nats = natsSettings(values, "seismo-capture", "capture");
    const db = openDatabaseReadOnly(dbPath(values.db));
    try {
      const targets = liveTargets(db, { service: values.service, targetId: values.target });
      const place = parseWhere(where, db, (file) => targetFile(db, file));
      const views = await captureRemote({ db, nats, where: place, targets, hits, ttlMs, minIntervalMs, log });
      printSnapshots(views, values.json === true, `No snapshot reached the database within ${Math.round(ttlMs / 1000)} s (is \`seismo analyzer\` running on it?).`, out);
      return 0;
    } finally {
      db.close();
    }
  }
  const db = openDatabase(dbPath(values.db));
  try {
    const place = parseWhere(where, db);
    const pid = values.pid === undefined ? localPid(db, place, where) : parsePid(values.pid, "capture");
    const store = new EventStore(db);
    const target = targetRef(db, pid);
    const opened = await openInspector(pid, { handlerWaitMs: 2_000 });
    const { webSocketDebuggerUrl } = opened;
    // Held while the capture runs; released at the end, which closes the inspector if this opened it.
    const hold = await InspectorHold.open(opened, pid, { holderPrefix: "seismo-capture" });
    let probe: ArmedProbe;
    try {
      const captures = new Captures({
        connect: () => connectInspector(webSocketDebuggerUrl),
        readFile: targetFileReader(pid),
        target: () => target,
        publish: (snapshot) => store.recordSnapshot(snapshot, Date.now()),
        log,
        redactNames: redactNames(values.redact),
      });
      let stopped = false;
      const removeSignals = onStopSignal(() => {
        stopped = true;
      });
      try {
        probe = await captures.arm({ trigger: "manual", ...place, hits, ttlMs, minIntervalMs });
        const deadline = Date.now() + ttlMs + 2_000;
        while (!stopped && Date.now() < deadline && captures.armed().some((p) => p.probeId === probe.probeId)) {
          await new Promise((r) => setTimeout(r, 50));
        }
      } finally {
        removeSignals();
        await captures.close();
      }
    } finally {
      const outcome = await hold.release();
      const said = describeOutcome(outcome, opened.port);
      if (isWarning(outcome)) log.warn(said);
      else log.info(said);
    }
    const views = listSnapshots(db, { limit: 1_000 }).filter((s) => s.probeId === probe.probeId).reverse();
    printSnapshots(views, values.json === true, `No call of ${probe.site.functionName} at ${probe.file}:${probe.site.line} within ${Math.round(ttlMs / 1000)} s.`, out);
    return 0;
  } finally {
    db.close();
  }
}

function printSnapshots(views: SnapshotView[], json: boolean, none: string, out: (text: string) => void): void {
  if (json) out(JSON.stringify(views, null, 2));
  else if (views.length === 0) out(none);
  else
    for (const view of views) {
      out(renderSnapshot(view).join("\n"));
      out("");
    }
}
