import type { CommandReply, NatsConnectOptions } from "@seismo/agent-proto";
import { connectNats, ErrorCodes, NatsCommandClient, SeismoError } from "@seismo/agent-proto";
import type { Db, SnapshotView } from "@seismo/analyzer";
import { listSnapshots } from "@seismo/analyzer";
import type { Logger } from "@seismo/daemon";
import { onStopSignal } from "../signals.js";

/** Where to capture, with the file as the targets see it. */
export interface RemoteWhere {
  file: string;
  line?: number;
  functionName?: string;
}

export interface LiveTarget {
  targetId: string;
  daemonId: string;
  pid: number;
  host: string;
  pod: string;
}

/** A target that sent anything this recently counts as live. */
const LIVE_WITHIN_MS = 120_000;
/** At most this many replicas are armed at once. */
const MAX_TARGETS = 10;

/** The live targets of a service (or the one named), most recently seen first. */
export function liveTargets(db: Db, selector: { service?: string | undefined; targetId?: string | undefined }, nowMs = Date.now()): LiveTarget[] {
  const rows = db
    .prepare(
      `SELECT target_id AS targetId, daemon_id AS daemonId, pid, host, pod FROM targets
       WHERE (@service IS NULL OR service = @service) AND (@target IS NULL OR target_id = @target)
         AND ended_at_ms IS NULL AND last_seen_ms >= @since
       ORDER BY last_seen_ms DESC LIMIT @limit`,
    )
    .all({ service: selector.service ?? null, target: selector.targetId ?? null, since: nowMs - LIVE_WITHIN_MS, limit: MAX_TARGETS }) as LiveTarget[];
  if (rows.length === 0) {
    const what = selector.targetId ? `target ${selector.targetId}` : `service "${selector.service ?? ""}"`;
    throw new SeismoError(ErrorCodes.NOT_FOUND, `No live process of ${what} in the database (none seen in the last ${LIVE_WITHIN_MS / 60_000} minutes).`, {
      hint: "Check `seismo targets --db PATH` for the services and targets the analyzer hears from.",
    });
  }
  return rows;
}

/** Every file the database knows the processes by: those in profiles, and the scripts they were started with. */
function knownFiles(db: Db): Set<string> {
  const files = new Set((db.prepare("SELECT DISTINCT file_path FROM functions WHERE file_path != ''").all() as Array<{ file_path: string }>).map((r) => r.file_path));
  for (const { argv } of db.prepare("SELECT DISTINCT argv FROM targets").all() as Array<{ argv: string }>) {
    try {
      for (const arg of JSON.parse(argv) as unknown[]) if (typeof arg === "string" && /^\/.*\.[cm]?[jt]s$/.test(arg)) files.add(arg);
    } catch {
      // an unreadable argv names no file
    }
  }
  return files;
}

/**
 * A file as the targets see it, from what the user typed: an absolute path as it is; a relative
 * one by the one file the database knows (see knownFiles) whose path ends with it.
 */
export function targetFile(db: Db, file: string): string {
  if (file.startsWith("/")) return file;
  const suffix = `/${file.replace(/^\.\//, "")}`;
  const files = [...knownFiles(db)].filter((path) => path.endsWith(suffix));
  if (files.length === 1) return files[0] as string;
  throw new SeismoError(
    ErrorCodes.NOT_FOUND,
    files.length === 0 ? `No file ending in ${suffix} in the database's profiles or the processes' command lines.` : `Several files end in ${suffix}: ${files.join(", ")}.`,
    { hint: "Give the file's absolute path inside the app's container (as `seismo top` shows it)." },
  );
}

export interface RemoteCaptureOptions {
  db: Db;
  nats: NatsConnectOptions;
  where: RemoteWhere;
  /** From liveTargets. */
  targets: LiveTarget[];
  hits: number;
  ttlMs: number;
  log: Logger;
}

/**
 * Arms a capture on every live process of a service (or one target) through the daemons that
 * watch them, over the command channel, then waits for the snapshots to reach the database (the
 * analyzer stores them as they arrive) until each probe has its hits or the time-to-live ends.
 */
export async function captureRemote(options: RemoteCaptureOptions): Promise<SnapshotView[]> {
  const { db, where, targets, hits, ttlMs, log } = options;
  const nc = await connectNats(options.nats);
  const probes = new Map<string, LiveTarget>();
  const failures: CommandReply[] = [];
  try {
    const client = new NatsCommandClient(nc);
    for (const target of targets) {
      const reply = await client.request(target.daemonId, { kind: "arm", targetId: target.targetId, trigger: "manual", ...where, hits, ttlMs });
      const where_ = `pid ${target.pid} on ${target.pod || target.host}`;
      if (reply.ok && reply.result) {
        probes.set(reply.result.probeId, target);
        log.info(`capture ${reply.result.probeId} armed on ${where_}: ${reply.result.functionName} at ${reply.result.file}:${reply.result.line}`);
      } else {
        failures.push(reply);
        log.warn(`no capture on ${where_}: ${reply.error?.message ?? "no reason given"} [${reply.error?.code ?? "?"}]`);
      }
    }
  } finally {
    await nc.close().catch(() => undefined);
  }
  if (probes.size === 0) {
    const first = failures[0]?.error;
    throw new SeismoError((first?.code as (typeof ErrorCodes)[keyof typeof ErrorCodes] | undefined) ?? ErrorCodes.COMMAND_TIMEOUT, `No capture could be armed: ${first?.message ?? "no daemon answered"}.`);
  }
  const taken = (): SnapshotView[] => listSnapshots(db, { limit: 1_000 }).filter((s) => probes.has(s.probeId));
  const done = (snapshots: SnapshotView[]): boolean => [...probes.keys()].every((id) => snapshots.some((s) => s.probeId === id && (s.last || s.hit >= hits)));
  let stopped = false;
  const removeSignals = onStopSignal(() => {
    stopped = true;
  });
  try {
    const deadline = Date.now() + ttlMs + 5_000;
    while (!stopped && Date.now() < deadline && !done(taken())) await new Promise((r) => setTimeout(r, 250));
  } finally {
    removeSignals();
  }
  return taken().reverse();
}
