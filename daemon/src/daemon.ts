import type { CommandServer, EventPublisher, ProfileWindow, Snapshot, Spike } from "@seismo/agent-proto";
import { describeError } from "@seismo/agent-proto";
import { armCommandHandler } from "./capture/arm-command.js";
import { ErrorMemory } from "./capture/error-memory.js";
import type { ActivateOptions } from "./inspector/activate.js";
import type { Logger } from "./logger.js";
import type { OutboxStats } from "./publish/outbox.js";
import { Outbox } from "./publish/outbox.js";
import type { SensorOptions } from "./sensor.js";
import { Sensor } from "./sensor.js";
import type { SpikeSettings } from "./spike/spike-watch.js";
import type { DiscoverySettings } from "./target/discovery.js";
import { Discovery } from "./target/discovery.js";
import { findNodeByCmdline, findNodeByCommandText } from "./target/find-process.js";
import { readCmdline } from "./target/proc.js";

/** What the user chose for every sensor of a daemon: the flags `daemon`, `attach` and `run` share. */
export interface SensorSettings {
  samplingIntervalUs: number;
  windowMs: number;
  service: string | undefined;
  deployment: string | undefined;
  recompileOnAttach: boolean;
  /** Give inlined functions their time back (see attribution/deinline.ts). */
  deinline: boolean;
  spikes: SpikeSettings | false;
  /** Extra names redacted in captured values. */
  redactNames: readonly string[];
  /** Watch uncaught exceptions and capture their throw site on the next occurrence. */
  errorCapture: boolean;
  /** Time HTTP endpoints and outgoing calls in the target. */
  endpoints: boolean;
  /** Time database queries (pg, mysql2) in the target. */
  queries: boolean;
  /** Keep failed and slow requests with their queries, calls and error (with endpoints). */
  requests: boolean;
}

/** How often a sensor says it is alive (the analyzer calls a target silent after 60 s without a message). */
export const HEARTBEAT_MS = 15_000;

/** Called as things happen, for metrics and live views; never needed to run. */
export interface DaemonObserver {
  onAttached?: (sensor: Sensor) => void;
  onWindow?: (window: ProfileWindow) => void;
  onSpike?: (spike: Spike) => void;
  onSnapshot?: (snapshot: Snapshot) => void;
}

export interface DaemonOptions {
  /** Unique per daemon process; part of every target id, and the address analyzers' commands go to. */
  daemonId: string;
  settings: SensorSettings;
  /** Where events go: JetStream, or the embedded analyzer. */
  publisher: EventPublisher;
  /** Where analyzers' commands (arm a capture) arrive: NATS request/reply, or the embedded analyzer's calls. */
  commands: CommandServer;
  log: Logger;
  /** The pod the daemon runs in (default: $POD_NAME and $POD_NAMESPACE, set by the manifests in deploy/). */
  pod?: string;
  namespace?: string;
  activate?: ActivateOptions;
  observer?: DaemonObserver;
  /** Opens inspector sessions: the real CDP connection unless a test scripts one. */
  connect?: SensorOptions["connect"];
}

/** Which process a daemon follows: by pid, by command line, or at an inspector already open. */
export type TargetChoice =
  | { pid: number; wait?: boolean }
  | { match: string; wait?: boolean }
  | { inspectorUrl: string };

/**
 * The daemon's composition root: turns settings into running sensors, the same way for
 * `seismo daemon` (one target or --discover), `attach` and `run`. It owns the outbox the
 * sensors publish through, the command channel analyzers arm captures on, and the memory of
 * uncaught exceptions its sensors share; the CLI only parses flags and prints.
 */
export class Daemon {
  private readonly attached = new Set<Sensor>();
  private readonly outbox: Outbox;
  /** An app an exception killed is known again when it restarts (see ErrorMemory). */
  private readonly errorMemory = new ErrorMemory();
  private discovery: Discovery<Sensor> | undefined;
  private stopping = false;
  private stopped: Promise<void> | undefined;
  private readonly wakeFollowers = new Set<() => void>();

  private constructor(private readonly options: DaemonOptions) {
    this.outbox = new Outbox(options.publisher, options.log);
  }

  /** A daemon ready to attach: its command channel answers from now on. */
  static async start(options: DaemonOptions): Promise<Daemon> {
    const daemon = new Daemon(options);
    await options.commands.serve(options.daemonId, armCommandHandler((targetId) => daemon.sensorFor(targetId)));
    return daemon;
  }

  get outboxStats(): OutboxStats {
    return this.outbox.stats;
  }

  /** The sensors attached now. */
  sensors(): Sensor[] {
    return [...this.attached];
  }

  sensorFor(targetId: string): Sensor | undefined {
    return [...this.attached].find((s) => s.target.targetId === targetId);
  }

  /** Processes discovery will not attach to, and why (none outside --discover). */
  blocked(): ReturnType<Discovery<Sensor>["blocked"]> {
    return this.discovery?.blocked() ?? [];
  }

  get attachFailures(): number {
    return this.discovery?.stats.attachFailures ?? 0;
  }

  /** Discovery has looked at the processes at least once (readiness of the sidecar). */
  get scanned(): boolean {
    return (this.discovery?.stats.scans ?? 0) > 0;
  }

  /** Attaches one sensor; it is detached by stop(), or ends by itself when its target does. */
  async attach(target: { pid: number } | { inspectorUrl: string }): Promise<Sensor> {
    const { settings, observer } = this.options;
    const sensor = await Sensor.attach({
      ...target,
      service: settings.service,
      deployment: settings.deployment,
      daemonId: this.options.daemonId,
      samplingIntervalUs: settings.samplingIntervalUs,
      windowMs: settings.windowMs,
      recompileOnAttach: settings.recompileOnAttach,
      deinline: settings.deinline,
      spikes: settings.spikes,
      redactNames: settings.redactNames,
      errorCapture: settings.errorCapture,
      endpoints: settings.endpoints,
      queries: settings.queries,
      requests: settings.requests,
      heartbeatMs: HEARTBEAT_MS,
      errorMemory: this.errorMemory,
      outbox: this.outbox,
      log: this.options.log,
      activate: { handlerWaitMs: 10_000, ...this.options.activate },
      ...podOf(this.options),
      ...(this.options.connect ? { connect: this.options.connect } : {}),
      ...(observer?.onWindow ? { onWindow: observer.onWindow } : {}),
      ...(observer?.onSpike ? { onSpike: observer.onSpike } : {}),
      ...(observer?.onSnapshot ? { onSnapshot: observer.onSnapshot } : {}),
    });
    this.attached.add(sensor);
    void sensor.done.then(() => this.attached.delete(sensor));
    observer?.onAttached?.(sensor);
    // Stopped while attaching: let it go at once.
    if (this.stopping) await sensor.stop();
    return sensor;
  }

  /**
   * Follows one process until it ends (or, with `wait`, each time it is started again) or the
   * daemon is stopped. By command text it first waits for the process to appear.
   */
  async follow(choice: TargetChoice): Promise<void> {
    let pid: number | undefined;
    if ("match" in choice) {
      this.options.log.info(`waiting for a Node.js process whose command line contains "${choice.match}"`);
      pid = await this.waitForProcess(() => findNodeByCommandText(choice.match));
      if (pid === undefined) return;
    } else if ("pid" in choice) pid = choice.pid;
    const wait = "wait" in choice && choice.wait === true;
    // A restart by pid is found again by its command line.
    const cmdline = "pid" in choice && wait ? readCmdline(choice.pid) : undefined;
    for (;;) {
      const sensor = await this.attach(pid !== undefined ? { pid } : { inspectorUrl: (choice as { inspectorUrl: string }).inspectorUrl });
      const reason = await sensor.done;
      if (reason === "stopped" || !wait || pid === undefined || this.stopping) return;
      const previous = sensor.target.pid;
      this.options.log.info("waiting for the app to start again");
      pid = await this.waitForProcess(
        () => ("match" in choice ? findNodeByCommandText(choice.match) : findNodeByCmdline(cmdline ?? [], previous)),
        previous,
      );
      if (pid === undefined) return;
    }
  }

  /** Every Node process in sight, attached and kept attached (the Kubernetes sidecar), until stop(). */
  discover(settings: Partial<DiscoverySettings> = {}): void {
    if (this.discovery) return;
    this.discovery = new Discovery<Sensor>({ attach: (pid) => this.attach({ pid }), log: this.options.log }, settings);
    this.options.log.info(`discovering Node.js processes${settings.only ? ` whose command line contains "${settings.only}"` : ""}`);
    this.discovery.start();
  }

  /**
   * Detaches every sensor (each publishes its last window and goodbye), stops answering
   * commands, and delivers what is queued within `deliverMs`. Apps keep running.
   */
  stop(deliverMs = 5_000): Promise<void> {
    this.stopping = true;
    for (const wake of this.wakeFollowers) wake();
    this.stopped ??= (async () => {
      await this.discovery?.stop();
      await Promise.all([...this.attached].map((s) => s.stop().catch((error: unknown) => this.options.log.warn(`detach failed: ${describeError(error)}`))));
      await this.options.commands.close();
      await this.outbox.close(deliverMs);
    })();
    return this.stopped;
  }

  /** Polls until `find` names a process (other than `previous`, which may linger as a zombie), or the daemon stops. */
  private async waitForProcess(find: () => number | undefined, previous?: number): Promise<number | undefined> {
    while (!this.stopping) {
      const pid = find();
      if (pid !== undefined && pid !== previous) return pid;
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.wakeFollowers.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, 500);
        this.wakeFollowers.add(wake);
      });
    }
    return undefined;
  }
}

function podOf(options: DaemonOptions): { pod?: string; namespace?: string } {
  const pod = options.pod ?? process.env.POD_NAME;
  const namespace = options.namespace ?? process.env.POD_NAMESPACE;
  return { ...(pod ? { pod } : {}), ...(namespace ? { namespace } : {}) };
}
