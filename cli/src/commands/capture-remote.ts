import type { CommandReply, NatsConnectOptions } from "@seismo/agent-proto";
import { connectNats, ErrorCodes, NatsCommandClient, SeismoError } from "@seismo/agent-proto";
import type { Db, LiveTarget, SnapshotView } from "@seismo/analyzer";
import { listSnapshots } from "@seismo/analyzer";
import type { Logger } from "@seismo/daemon";
import { onStopSignal } from "../signals.js";

/** Where to capture, with the file as the targets see it. */
export interface RemoteWhere {
  file: string;
  line?: number;
  functionName?: string;
}

export interface RemoteCaptureOptions {
  db: Db;
  nats: NatsConnectOptions;
  where: RemoteWhere;
  /** From liveTargets. */
  targets: LiveTarget[];
  hits: number;
  ttlMs: number;
  /** At most one snapshot per this many ms per process (0: every call). */
  minIntervalMs: number;
  log: Logger;
}

/**
 * Arms a capture on every live process of a service (or one target) through the daemons that
 * watch them, over the command channel, then waits for the snapshots to reach the database (the
 * analyzer stores them as they arrive) until each probe has its hits or the time-to-live ends.
 */
export async function captureRemote(options: RemoteCaptureOptions): Promise<SnapshotView[]> {
  const { db, where, targets, hits, ttlMs, minIntervalMs, log } = options;
  const nc = await connectNats(options.nats);
  const probes = new Map<string, LiveTarget>();
  const failures: CommandReply[] = [];
  try {
    const client = new NatsCommandClient(nc);
    for (const target of targets) {
      const reply = await client.request(target.daemonId, { kind: "arm", targetId: target.targetId, trigger: "manual", ...where, hits, ttlMs, minIntervalMs });
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
