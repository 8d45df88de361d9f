import type { ErrorCode, TargetRef } from "@seismo/agent-proto";
import { describeError, ErrorCodes, SeismoError } from "@seismo/agent-proto";
import { looksLikeNode } from "../inspector/activate.js";
import type { Logger } from "../logger.js";
import type { SensorEndReason } from "../sensor.js";
import { listPids } from "./find-process.js";
import { processStartMs, readCmdline, readExe } from "./proc.js";

/** What discovery needs of an attached sensor. */
export interface DiscoveredSensor {
  readonly target: TargetRef;
  readonly done: Promise<SensorEndReason>;
  stop(): Promise<void>;
}

export interface DiscoveryDeps<S extends DiscoveredSensor = DiscoveredSensor> {
  /** Attaches to a Node process (Sensor.attach): opens its inspector, confirms its identity. */
  attach: (pid: number) => Promise<S>;
  log: Logger;
  /** The Node processes to consider, lowest pid first; by default every one in /proc but this one. */
  candidates?: () => number[];
  /** A process's identity over time: a pid reused by a new process is a new process. */
  startOf?: (pid: number) => number;
  now?: () => number;
}

export interface DiscoverySettings {
  /** How often /proc is scanned (default 1 s: a restarted app is attached again within a few seconds). */
  periodMs: number;
  /** Only processes whose command line contains this text (default: every Node process). */
  only?: string | undefined;
  /** First wait after a failed attach, doubled each time up to maxBackoffMs. */
  backoffMs: number;
  maxBackoffMs: number;
}

export const DEFAULT_DISCOVERY: DiscoverySettings = { periodMs: 1_000, backoffMs: 2_000, maxBackoffMs: 60_000 };

/** A process Seismo will not attach to, and why (reported once, kept until the process ends). */
export interface BlockedTarget {
  pid: number;
  code: ErrorCode;
  reason: string;
  fix: string;
}

/**
 * Failures that attaching again would not cure, for this process: its options forbid the
 * inspector, it is not ours to signal, or it was signalled once and did not open it (it is
 * never signalled twice).
 */
const PERMANENT: ReadonlySet<string> = new Set([
  ErrorCodes.INSPECTOR_BLOCKED,
  ErrorCodes.INSPECTOR_NOT_LOOPBACK,
  ErrorCodes.TARGET_NOT_PERMITTED,
  ErrorCodes.TARGET_NOT_NODE,
  ErrorCodes.INSPECTOR_TIMEOUT,
  ErrorCodes.TARGET_IDENTITY_MISMATCH,
]);

interface Known<S> {
  start: number;
  state: "attaching" | "attached" | "blocked" | "waiting";
  sensor?: S;
  failures: number;
  retryAt: number;
  blocked?: BlockedTarget;
  /** The last failure's code: the same failure again is not logged again. */
  lastCode?: string;
}

/**
 * Seismo's own processes: this CLI (`seismo top` run by hand in the sidecar, another daemon) and
 * the image's health check. Never targets.
 */
export function isSeismoProcess(argv: readonly string[]): boolean {
  return argv.some((arg) => arg.endsWith("/cli/bin/seismo.js") || arg.includes("seismo-healthcheck"));
}

/** Node processes in /proc, Seismo's own excepted: what a sidecar sharing the pod's PID namespace sees. */
export function nodeProcesses(only?: string): number[] {
  const pids: number[] = [];
  for (const pid of listPids().sort((a, b) => a - b)) {
    if (pid === process.pid) continue;
    try {
      const argv = readCmdline(pid);
      if (!looksLikeNode(readExe(pid), argv) || isSeismoProcess(argv)) continue;
      if (only !== undefined && !argv.join(" ").includes(only)) continue;
      pids.push(pid);
    } catch {
      // exited while we looked, or not ours to read
    }
  }
  return pids;
}

/**
 * Discovery mode: every Node process in sight, attached and kept attached.
 *
 * Each scan lists the Node processes and attaches to the new ones, all at
 * once (a slow one does not hold up the rest). A process whose options
 * forbid the inspector is reported once, with the fix, and left alone; a
 * failure that may pass is retried with a doubling back-off. A process is
 * known by its pid and start time, so a restarted app (a new pid, or a reused
 * one) is a new target, attached on the next scan.
 */
export class Discovery<S extends DiscoveredSensor = DiscoveredSensor> {
  private readonly settings: DiscoverySettings;
  private readonly known = new Map<number, Known<S>>();
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  private scanning: Promise<void> | undefined;
  private readonly inflight = new Set<Promise<void>>();
  private readonly now: () => number;
  private readonly startOf: (pid: number) => number;
  /** Counts since start, for metrics. */
  readonly stats = { attaches: 0, attachFailures: 0, detaches: 0, scans: 0 };

  constructor(
    private readonly deps: DiscoveryDeps<S>,
    settings: Partial<DiscoverySettings> = {},
  ) {
    this.settings = { ...DEFAULT_DISCOVERY, ...settings };
    this.now = deps.now ?? Date.now;
    this.startOf = deps.startOf ?? processStartMs;
  }

  start(): void {
    const tick = (): void => {
      this.scanning = this.scan().finally(() => {
        if (!this.stopping) this.timer = setTimeout(tick, this.settings.periodMs);
      });
    };
    tick();
  }

  /** The sensors attached now. */
  sensors(): S[] {
    return [...this.known.values()].flatMap((k) => (k.state === "attached" && k.sensor ? [k.sensor] : []));
  }

  blocked(): BlockedTarget[] {
    return [...this.known.values()].flatMap((k) => (k.state === "blocked" && k.blocked ? [k.blocked] : []));
  }

  sensorFor(targetId: string): S | undefined {
    return this.sensors().find((s) => s.target.targetId === targetId);
  }

  /** One pass: forget what ended, attach what is new or due for a retry. */
  async scan(): Promise<void> {
    if (this.stopping) return;
    this.stats.scans++;
    const pids = (this.deps.candidates ?? (() => nodeProcesses(this.settings.only)))();
    const present = new Set(pids);
    for (const [pid, known] of this.known) {
      if (known.state === "attached" || known.state === "attaching") continue;
      // A blocked or waiting process that is gone, or replaced by a new one under its pid, is forgotten.
      if (!present.has(pid) || this.safeStart(pid) !== known.start) this.known.delete(pid);
    }
    for (const pid of pids) {
      const known = this.known.get(pid);
      if (known && (known.state !== "waiting" || this.now() < known.retryAt)) continue;
      const start = this.safeStart(pid);
      if (start === undefined) continue;
      const attaching = this.attach(pid, start, known?.failures ?? 0, known?.lastCode).finally(() => this.inflight.delete(attaching));
      this.inflight.add(attaching);
    }
    // Attaches run on: the next scan does not wait for a slow one.
  }

  private safeStart(pid: number): number | undefined {
    try {
      return this.startOf(pid);
    } catch {
      return undefined;
    }
  }

  private async attach(pid: number, start: number, failures: number, lastCode?: string): Promise<void> {
    const entry: Known<S> = { start, state: "attaching", failures, retryAt: 0, ...(lastCode !== undefined ? { lastCode } : {}) };
    this.known.set(pid, entry);
    try {
      const sensor = await this.deps.attach(pid);
      if (this.stopping) {
        await sensor.stop();
        return;
      }
      entry.state = "attached";
      entry.sensor = sensor;
      entry.failures = 0;
      this.stats.attaches++;
      void sensor.done.then(() => {
        this.stats.detaches++;
        if (this.known.get(pid) === entry) this.known.delete(pid);
      });
    } catch (error) {
      this.stats.attachFailures++;
      const code = error instanceof SeismoError ? error.code : ErrorCodes.INSPECTOR_PROTOCOL;
      if (PERMANENT.has(code)) {
        entry.state = "blocked";
        entry.blocked = { pid, code, reason: (error as Error).message, fix: (error as SeismoError).hint ?? "" };
        this.deps.log.warn(`not attaching to pid ${pid}: ${describeError(error)}`);
        return;
      }
      entry.state = "waiting";
      entry.failures = failures + 1;
      const wait = Math.min(this.settings.maxBackoffMs, this.settings.backoffMs * 2 ** failures);
      entry.retryAt = this.now() + wait;
      if (entry.lastCode !== code) this.deps.log.warn(`attaching to pid ${pid} failed (${describeError(error)}); trying again, less and less often`);
      entry.lastCode = code;
    }
  }

  /** Stops scanning and detaches from everything; the apps keep running. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    await this.scanning?.catch(() => undefined);
    await Promise.all([...this.inflight]);
    await Promise.all(this.sensors().map((s) => s.stop().catch(() => undefined)));
    await Promise.all(this.sensors().map((s) => s.done.catch(() => undefined)));
  }
}
