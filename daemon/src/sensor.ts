import { existsSync } from "node:fs";
import { hostname } from "node:os";
import type { FunctionStat, Hello, ProfileWindow, Snapshot, Spike, TargetRef } from "@seismo/agent-proto";
import { describeError, ErrorCodes, SeismoError } from "@seismo/agent-proto";
import type { ArmRequest } from "./capture/captures.js";
import { Captures } from "./capture/captures.js";
import type { ErrorWatchSettings } from "./capture/error-watch.js";
import { ErrorWatch } from "./capture/error-watch.js";
import type { ErrorMemory } from "./capture/error-memory.js";
import type { ActivateOptions } from "./inspector/activate.js";
import { openInspector } from "./inspector/activate.js";
import type { InspectorOutcome } from "./inspector/lease.js";
import { describeOutcome, InspectorLease, isWarning } from "./inspector/lease.js";
import { evaluateInTarget } from "./in-target/evaluate.js";
import type { InspectorSession } from "./inspector/session.js";
import { connectInspector } from "./inspector/session.js";
import type { Logger } from "./logger.js";
import type { Outbox } from "./publish/outbox.js";
import type { RawRequest } from "./in-target/request-forensics.js";
import { toRequestExemplar } from "./instruments/request-exemplar.js";
import type { SensorPart, WindowContribution } from "./parts/sensor-part.js";
import { INSTRUMENTS } from "./instruments/instruments.js";
import { InlineAttribution } from "./attribution/inline-attribution.js";
import { describeAtOriginal, toOriginalBurst, toOriginalStats } from "./attribution/original-stats.js";
import { ScriptTables } from "./attribution/script-tables.js";
import { nameAnonymousFunctions, shownName } from "./attribution/anonymous-names.js";
import { SourceMaps } from "./attribution/source-maps.js";
import { aggregateProfile } from "./sampler/aggregate.js";
import type { CpuProfile } from "./sampler/cpu-profile.js";
import { packageVersionReader } from "./sampler/package-versions.js";
import type { RawWindow } from "./sampler/sampler.js";
import { Sampler } from "./sampler/sampler.js";
import type { SpikeSettings } from "./spike/spike-watch.js";
import { DEFAULT_SPIKE_SETTINGS, SpikeWatch } from "./spike/spike-watch.js";
import { CpuMeter } from "./target/cpu-meter.js";
import { codeFingerprint } from "./target/code-fingerprint.js";
import type { TargetFacts } from "./target/identity.js";
import { mainScript, redactArgv, resolveIdentity, TARGET_FACTS_EXPRESSION, targetFileReader } from "./target/identity.js";
import { readPodLabels } from "./target/pod-labels.js";
import { processExists, processStartMs, readEnviron, readProcStatus } from "./target/proc.js";
import { sourceLineReader } from "./target/source-lines.js";
import { targetScriptFiles } from "./target/script-files.js";
import { SEISMO_VERSION } from "./version.js";

export interface SensorOptions {
  /** Attach by pid (opens the inspector with SIGUSR1 when needed)... */
  pid?: number;
  /** ...or to an inspector already open at this loopback WebSocket URL. */
  inspectorUrl?: string;
  service?: string;
  deployment?: string;
  /** When nothing labels the deployment, fingerprint the app's code to name it (default true). */
  fingerprintCode?: boolean;
  daemonId: string;
  samplingIntervalUs: number;
  windowMs: number;
  heartbeatMs: number;
  /** Recompile optimized code once on attach for correct inlining attribution (default true; see Sampler). */
  recompileOnAttach?: boolean;
  outbox: Outbox;
  log: Logger;
  activate?: ActivateOptions;
  pod?: string;
  namespace?: string;
  /** Opens the inspector session; the real CDP connection unless a test scripts one. */
  connect?: (webSocketUrl: string) => Promise<InspectorSession>;
  /** Called with every window as published (the live view of `seismo run`). */
  onWindow?: (window: ProfileWindow) => void;
  /** Spike watch and burst profiles (default on, with DEFAULT_SPIKE_SETTINGS); false turns it off. */
  spikes?: SpikeSettings | false;
  /** Called with every spike event as published. */
  onSpike?: (spike: Spike) => void;
  /** Called with every snapshot as published. */
  onSnapshot?: (snapshot: Snapshot) => void;
  /** Names whose values captures redact, besides the built-in list. */
  redactNames?: readonly string[];
  /** Uncaught exceptions reported and their throw site captured on the next occurrence (default on); false turns it off. */
  errorCapture?: Partial<ErrorWatchSettings> | boolean;
  /** The daemon's memory of uncaught exceptions, shared by its sensors (see ErrorMemory); default: this sensor's own. */
  errorMemory?: ErrorMemory;
  /** HTTP endpoints (method, route, status, latency) and outgoing calls measured in the target (default on). */
  endpoints?: boolean;
  /** Database queries (pg, mysql2) timed in the target per statement digest (default on). */
  queries?: boolean;
  /** Failed and slow requests kept with their queries, calls and error (default on, with endpoints). */
  requests?: boolean;
  /**
   * Give inlined functions their own time back (default on; see attribution/deinline.ts).
   * false publishes the figures exactly as V8's profiler charged them.
   */
  deinline?: boolean;
}

export type SensorEndReason = "target-exited" | "stopped" | "connection-lost";

/**
 * One attached Node process: its inspector session, its rolling profile
 * windows and heartbeats, and a clean detach however the story ends (the
 * daemon stops, the target exits, the connection drops).
 */
export class Sensor {
  readonly done: Promise<SensorEndReason>;
  /** Forensic captures on this target: arm a probe, get snapshots published. */
  readonly captures: Captures;
  private resolveDone!: (reason: SensorEndReason) => void;
  private finishing: Promise<void> | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private readonly heartbeatCpu: CpuMeter;
  /** Everything beside CPU sampling that this sensor runs: instruments in the target, spike and exception watches. */
  private readonly parts: SensorPart[] = [];
  private hello: Hello | undefined;
  private hellosSent = 0;
  private droppedAtLastHello = 0;
  private windowsPublished = 0;
  /** The last two raw windows: a loop blocked in a native call is profiled from them (see SpikeWatch). */
  private readonly recentWindows: RawWindow[] = [];
  private errorWatch: ErrorWatch | undefined;
  /** This sensor's hold on the target's inspector; undefined when the target would not take one. */
  private lease: InspectorLease | undefined;
  /** What became of the inspector when this sensor detached (closed, shared, left as found). */
  inspectorOutcome: InspectorOutcome | undefined;
  /** Windows are published in order: each waits for the one before (its endpoint read is a round trip). */
  private windowChain: Promise<void> = Promise.resolve();
  /** The pause attaching caused in the target (the recompile of optimized code), when there was one. */
  attachPauseMs: number | undefined;
  /** De-inlining of this target's profiles; undefined when turned off. */
  readonly attribution: InlineAttribution | undefined;
  /** The target's scripts' function tables, shared by de-inlining and source mapping. */
  private readonly tables: ScriptTables;
  /** The target's source maps: locations are published at the code people wrote. */
  readonly sourceMaps: SourceMaps;

  private constructor(
    private readonly session: InspectorSession,
    private readonly sampler: Sampler,
    readonly target: TargetRef,
    readonly facts: TargetFacts,
    private readonly options: SensorOptions,
    private readonly extras: {
      url: string;
      versionOf: (root: string) => string | undefined;
      readFile: (path: string) => string | undefined;
      deploymentSource: string;
      /** Seismo's SIGUSR1 opened the inspector: it is closed again when the last sensor leaves. */
      openedBySeismo: boolean;
    },
  ) {
    this.heartbeatCpu = new CpuMeter(target.pid);
    const files = targetScriptFiles(processExists(target.pid) ? target.pid : undefined);
    this.tables = new ScriptTables(files);
    this.sourceMaps = new SourceMaps(files, (url) => this.tables.tableOf(url));
    this.attribution = options.deinline === false ? undefined : new InlineAttribution(this.tables);
    this.captures = new Captures({
      connect: () => (options.connect ?? connectInspector)(extras.url),
      readFile: extras.readFile,
      target: () => this.target,
      publish: (snapshot) => this.publishSnapshot(snapshot),
      log: options.log,
      redactNames: options.redactNames ?? [],
      toGenerated: (request) => this.generatedRequest(request),
    });
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
  }

  static async attach(options: SensorOptions): Promise<Sensor> {
    const opened = options.inspectorUrl === undefined ? await openInspector(requirePid(options.pid), options.activate) : undefined;
    const url = options.inspectorUrl ?? (opened?.webSocketDebuggerUrl as string);
    const session = await (options.connect ?? connectInspector)(url);
    try {
      const facts = await readFacts(session);
      const pid = options.pid ?? facts.pid;
      if (options.pid !== undefined) {
        // In a nested PID namespace the target knows itself by its innermost pid.
        const expected = readProcStatus(options.pid).nsPids.at(-1) ?? options.pid;
        if (facts.pid !== expected) {
          throw new SeismoError(
            ErrorCodes.TARGET_IDENTITY_MISMATCH,
            `The inspector at ${url} belongs to process ${facts.pid}, not ${options.pid}.`,
            { hint: "Two processes may share the inspector port: start them with --inspect-port=0." },
          );
        }
      }
      const visible = processExists(pid);
      const readFile = targetFileReader(visible ? pid : undefined);
      const identity = resolveIdentity({
        flagService: options.service,
        flagDeployment: options.deployment,
        env: visible ? safeEnviron(pid) : new Map(),
        facts,
        readTargetFile: readFile,
        podLabels: readPodLabels(visible ? pid : undefined),
      });
      if (identity.deployment === "" && options.fingerprintCode !== false) {
        // Nobody labelled the release: a fingerprint of the code tells one redeploy from the next.
        const fingerprint = await codeFingerprint(mainScript(facts), visible && existsSync(`/proc/${pid}/root`) ? `/proc/${pid}/root` : "");
        if (fingerprint) {
          identity.deployment = fingerprint.label;
          identity.deploymentSource = `code:${fingerprint.files} files${fingerprint.capped ? " (capped)" : ""}`;
        }
      }
      const startMs = visible ? Math.round(processStartMs(pid)) : 0;
      const target: TargetRef = {
        // One attach session of one process: windows, spikes and capture probes are numbered from 1 in each,
        // so a second attach to the same process (discovery after a dropped connection, `seismo
        // attach` run again) must not reuse the ids of the first, or its events would be dropped
        // as redeliveries.
        targetId: `${options.daemonId}:${pid}:${startMs}:${Date.now().toString(36)}`,
        daemonId: options.daemonId,
        service: identity.service,
        deployment: identity.deployment,
        pid,
        host: hostname(),
        pod: options.pod ?? "",
        namespace: options.namespace ?? "",
      };
      const versionOf = packageVersionReader(readFile);
      // Windows arrive only after begin(), so the closure never sees `sensor` uninitialized.
      const sampler: Sampler = new Sampler(
        session,
        { intervalUs: options.samplingIntervalUs, windowMs: options.windowMs, recompile: options.recompileOnAttach ?? true },
        (raw) => sensor.queueWindow(raw, versionOf),
        (error) => options.log.warn(`profile window lost: ${describeError(error)}`),
      );
      const sensor: Sensor = new Sensor(session, sampler, target, facts, options, {
        url,
        versionOf,
        readFile,
        deploymentSource: identity.deploymentSource,
        openedBySeismo: opened?.openedBySeismo ?? false,
      });
      await sensor.begin(startMs);
      return sensor;
    } catch (error) {
      await session.close();
      throw error;
    }
  }

  /** Detaches cleanly: last window published, profiler stopped, session closed. The target keeps running. */
  stop(): Promise<void> {
    return this.finish("stopped");
  }

  private async begin(processStart: number): Promise<void> {
    const { session, options } = this;
    // Without this, a target that ends while we are attached would only see its context destroyed;
    // with it, Node tells us it is waiting, and we let it go at once.
    await session.send("NodeRuntime.notifyWhenWaitingForDisconnect", { enabled: true }).catch(() => undefined);
    session.on("NodeRuntime.waitingForDisconnect", () => void this.finish("target-exited"));
    session.onClose(() => void this.finish(processExists(this.target.pid) ? "connection-lost" : "target-exited"));
    try {
      this.lease = await InspectorLease.take(session, {
        openedBySeismo: this.extras.openedBySeismo,
        // Three missed heartbeats: the daemon is gone, and the target closes what Seismo opened.
        leaseMs: 3 * options.heartbeatMs,
        holderPrefix: options.daemonId,
      });
    } catch (error) {
      options.log.warn(
        `the target would not record Seismo's use of its inspector (${describeError(error)}): ` +
          (this.extras.openedBySeismo ? "the inspector Seismo opened may stay open after Seismo leaves" : "it was open before Seismo came and is left as found"),
      );
    }

    const recompileMs = await this.sampler.start();
    this.attachPauseMs = recompileMs;
    const hello: Hello = {
      target: this.target,
      nodeVersion: this.facts.nodeVersion,
      v8Version: this.facts.v8Version,
      processStartMs: processStart,
      attachedAtMs: Date.now(),
      argv: redactArgv([...this.facts.execArgv, ...this.facts.argv]),
      seismoVersion: SEISMO_VERSION,
      samplingIntervalUs: options.samplingIntervalUs,
      windowMs: options.windowMs,
    };
    this.hello = hello;
    this.sendHello();
    this.heartbeatCpu.read(); // a first reading, so the first heartbeat already has a CPU figure
    if (options.spikes !== false) this.parts.push(await this.startSpikeWatch(options.spikes ?? DEFAULT_SPIKE_SETTINGS));
    if (options.errorCapture !== false) {
      const watch = await this.startErrorWatch(options.errorCapture === true || options.errorCapture === undefined ? {} : options.errorCapture);
      if (watch) this.parts.push(watch);
    }
    for (const instrument of INSTRUMENTS) {
      if (options[instrument.setting] === false) continue;
      try {
        this.parts.push(await instrument.start({ session: this.session, windowMs: options.windowMs, log: options.log, keepRequests: options.requests !== false }));
      } catch (error) {
        // A target without diagnostics_channel, say: only what the instrument times is lost.
        options.log.warn(`${instrument.unavailable}: ${describeError(error)}`);
      }
    }
    this.heartbeatTimer = setInterval(() => this.heartbeat(), options.heartbeatMs);
    this.heartbeatTimer.unref();
    options.log.info(
      `attached to pid ${this.target.pid} (node ${this.facts.nodeVersion}), service "${this.target.service}"` +
        `${this.target.deployment ? `, deployment ${this.target.deployment} (from ${this.extras.deploymentSource})` : ""}: sampling every ${options.samplingIntervalUs / 1000} ms, ${options.windowMs / 1000} s windows` +
        (recompileMs === undefined ? "" : `; recompiled optimized code for exact attribution (${recompileMs.toFixed(1)} ms)`) +
        this.parts.map((part) => `; ${part.doing}`).join(""),
    );
  }

  private queueWindow(raw: RawWindow, versionOf: (root: string) => string | undefined): void {
    this.recentWindows.push(raw);
    if (this.recentWindows.length > 2) this.recentWindows.shift();
    this.windowChain = this.windowChain
      .then(() => this.publishWindow(raw, versionOf))
      .catch((error: unknown) => this.options.log.warn(`profile window lost: ${describeError(error)}`));
  }

  private async publishWindow(raw: RawWindow, versionOf: (root: string) => string | undefined): Promise<void> {
    const contributions: WindowContribution[] = [];
    const seen = { scriptUrls: new Set(raw.profile.nodes.map((node) => node.callFrame.url).filter((url) => url !== "")) };
    for (const part of this.parts) if (part.contribute) contributions.push(await part.contribute(seen));
    const aggregated = aggregateProfile(this.attributed(raw.profile), {
      versionOf,
      samplingIntervalUs: this.options.samplingIntervalUs,
      describeFrame: describeAtOriginal(this.sourceMaps),
    });
    const window: ProfileWindow = {
      windowId: `${this.target.targetId}:${raw.sequence}`,
      target: this.target,
      sequence: raw.sequence,
      startMs: raw.startMs,
      endMs: raw.endMs,
      samplingIntervalUs: this.options.samplingIntervalUs,
      totalSamples: aggregated.totalSamples,
      cpuUs: Math.round(aggregated.cpuUs),
      idleUs: Math.round(aggregated.idleUs),
      gcUs: Math.round(aggregated.gcUs),
      programUs: Math.round(aggregated.programUs),
      functions: this.located(aggregated.functions, versionOf),
      truncatedFunctions: 0,
      sensorUs: Math.round(aggregated.sensorUs),
      endpoints: contributions.flatMap((c) => c.endpoints ?? []),
      outgoing: contributions.flatMap((c) => c.outgoing ?? []),
      queries: contributions.flatMap((c) => c.queries ?? []),
      requestsNotKept: contributions.reduce((n, c) => n + (c.requests?.limited ?? 0), 0),
    };
    this.options.outbox.send(this.target.service, { kind: "profile", sentAtMs: Date.now(), body: window }, window.windowId);
    this.windowsPublished++;
    this.options.onWindow?.(window);
    for (const raw of contributions.flatMap((c) => c.requests?.kept ?? [])) this.publishRequest(raw);
  }

  /**
   * A failed or slow request the HTTP instrument kept: redacted, its error's stack at the original
   * source. Its error goes to the exception watch too: the first of its kind at the app's line is
   * a snapshot of its own, and arms a capture there for the values of its next occurrence.
   */
  private publishRequest(raw: RawRequest): void {
    let trigger = "";
    if (raw.error && this.errorWatch) {
      const thrown = { name: raw.error.type, message: raw.error.message, stack: raw.error.stack, origin: "handled", at: Math.round(raw.at + raw.ms) };
      trigger = this.errorWatch.triggerOf(thrown);
      this.errorWatch.onThrown(thrown);
    }
    const exemplar = toRequestExemplar(
      raw,
      this.target,
      (frame) => {
        try {
          return this.sourceMaps.originalFrame(frame);
        } catch {
          return frame;
        }
      },
      trigger,
    );
    this.options.outbox.send(this.target.service, { kind: "request", sentAtMs: Date.now(), body: exemplar }, exemplar.requestId);
  }

  /**
   * A capture asked for at an original source (what every surface shows for mapped code) goes to
   * the generated file V8 runs: the function found through the maps, or the line mapped.
   */
  private generatedRequest(request: ArmRequest): ArmRequest | undefined {
    if (request.line !== undefined) {
      const at = this.sourceMaps.generatedLine(request.file, request.line);
      return at ? { ...request, file: at.path, line: at.line, ...(request.column !== undefined ? { column: at.column } : {}) } : undefined;
    }
    if (request.functionName === undefined) return undefined;
    const found = this.sourceMaps.generatedFunction(request.file, request.functionName);
    if (!found) return undefined;
    // By the generated function's own name and line: its first statement is where it runs
    // (a breakpoint on its first line would hit the call that registers an arrow, once).
    return { ...request, file: found.path, functionName: shownName(found.fn), functionLine: found.fn.line + 1 };
  }

  /** Functions at the code people wrote, through source maps; as V8 placed them when mapping fails. */
  private located(functions: FunctionStat[], versionOf: (root: string) => string | undefined): FunctionStat[] {
    try {
      return toOriginalStats(functions, this.sourceMaps, versionOf);
    } catch (error) {
      this.options.log.warn(`functions are shown at their generated location in this window: ${describeError(error)}`);
      return functions;
    }
  }

  /**
   * The profile with inlined functions' time given back to them (or as V8 gave it when that is
   * off or fails), and anonymous functions named by where they sit.
   */
  private attributed(profile: CpuProfile): CpuProfile {
    const sources = this.tables.forWindow();
    let attributed = profile;
    if (this.attribution) {
      try {
        attributed = this.attribution.apply(profile, sources).profile;
      } catch (error) {
        this.options.log.warn(`inlined functions are left as V8 charged them in this profile: ${describeError(error)}`);
      }
    }
    try {
      return nameAnonymousFunctions(attributed, sources.tableOf);
    } catch (error) {
      this.options.log.warn(`anonymous functions are left unnamed in this profile: ${describeError(error)}`);
      return attributed;
    }
  }

  private async startSpikeWatch(settings: SpikeSettings): Promise<SensorPart> {
    const { options, extras } = this;
    const watch = new SpikeWatch(
      {
        target: this.target,
        session: this.session,
        openBurstSession: () => (options.connect ?? connectInspector)(extras.url),
        cpu: new CpuMeter(this.target.pid),
        rotateWindow: () => this.sampler.rotate(),
        windowCovering: (atMs) => this.recentWindows.findLast((w) => w.startMs <= atMs && atMs <= w.endMs),
        windowIntervalUs: options.samplingIntervalUs,
        publish: (spike, messageId) => {
          options.outbox.send(this.target.service, { kind: "spike", sentAtMs: Date.now(), body: spike }, messageId);
          options.onSpike?.(spike);
        },
        versionOf: extras.versionOf,
        attributed: (profile) => this.attributed(profile),
        located: (burst) => {
          try {
            return toOriginalBurst(burst, this.sourceMaps, extras.versionOf);
          } catch (error) {
            this.options.log.warn(`the spike profile is shown at generated locations: ${describeError(error)}`);
            return burst;
          }
        },
        sourceLine: sourceLineReader(extras.readFile),
        log: options.log,
      },
      settings,
    );
    await watch.start();
    return {
      doing: `watching CPU${watch.loopWatched ? " and event-loop delay" : ""} for spikes`,
      halt: (exiting) => watch.stop(exiting),
    };
  }

  /** Uncaught exceptions: reported at once, their throw site captured on the next occurrence. A failure here only loses that. */
  private async startErrorWatch(settings: Partial<ErrorWatchSettings>): Promise<SensorPart | undefined> {
    const watch = new ErrorWatch(
      {
        target: () => this.target,
        publish: (snapshot) => this.publishSnapshot(snapshot),
        arm: (request) => this.captures.arm(request),
        log: this.options.log,
        ...(this.options.errorMemory ? { memory: this.options.errorMemory } : {}),
      },
      settings,
    );
    try {
      await this.captures.watchErrors((thrown) => watch.onThrown(thrown));
      this.errorWatch = watch;
    } catch (error) {
      this.options.log.warn(`uncaught exceptions will not be captured: ${describeError(error)}`);
      return undefined;
    }
    // An exception an earlier process of this app reported (and likely died of): its probe, now.
    await watch.rearm();
    // Its breakpoints go with the captures' session (closed in finish).
    return { doing: "watching uncaught exceptions" };
  }

  /** Each hello gets its own message id: JetStream would drop a repeat of the same id as a duplicate. */
  private sendHello(): void {
    if (!this.hello) return;
    this.hellosSent++;
    this.droppedAtLastHello = this.options.outbox.stats.dropped;
    this.options.outbox.send(
      this.target.service,
      { kind: "hello", sentAtMs: Date.now(), body: this.hello },
      `${this.target.targetId}:hello:${this.hellosSent}`,
    );
  }

  private heartbeat(): void {
    // The buffer overflowed since the last hello, which may have been among the dropped: say it again.
    if (this.options.outbox.stats.dropped > this.droppedAtLastHello) this.sendHello();
    // Zeros when /proc does not show the target (attached by URL across namespaces).
    const reading = this.heartbeatCpu.read();
    const targetCpu = reading?.cpu ?? 0;
    const rss = reading?.rssBytes ?? 0;
    const stats = this.options.outbox.stats;
    // Unanswered (a busy target): the lease outlasts a few missed renewals.
    void this.lease?.renew(this.session).catch(() => undefined);
    this.options.outbox.send(this.target.service, {
      kind: "heartbeat",
      sentAtMs: Date.now(),
      body: {
        target: this.target,
        sentAtMs: Date.now(),
        windowsPublished: this.windowsPublished,
        publishFailures: stats.publishFailures,
        messagesDropped: stats.dropped,
        messagesBuffered: stats.buffered,
        targetCpu,
        targetRssBytes: rss,
      },
    });
  }

  private publishSnapshot(snapshot: Snapshot): void {
    this.options.outbox.send(this.target.service, { kind: "snapshot", sentAtMs: Date.now(), body: snapshot }, `${snapshot.probeId}:${snapshot.hit}`);
    this.errorWatch?.onSnapshot(snapshot);
    this.options.onSnapshot?.(snapshot);
  }

  /** What happens to the inspector when the connection dropped without a release (or the target ended). */
  private inspectorAfterLoss(reason: SensorEndReason): string | undefined {
    if (reason !== "connection-lost" || !this.lease || this.lease.openedBy !== "seismo") return undefined;
    return `could not release the inspector it had opened (the connection dropped): the target closes it itself within ${Math.round((3 * this.options.heartbeatMs + 5_000) / 1000)} s unless another Seismo sensor holds it`;
  }

  private finish(reason: SensorEndReason): Promise<void> {
    this.finishing ??= (async () => {
      clearInterval(this.heartbeatTimer);
      this.sampler.halt();
      // A target that is exiting answers a call into its JavaScript with a segmentation fault on
      // Node 20 (seen when the event loop empties while we are attached; not on 22 and 24): ask
      // nothing of it then, at the cost of its last, partial window.
      const exiting = reason === "target-exited";
      const fragile = exiting && /^v20\./.test(this.facts.nodeVersion);
      for (const part of this.parts) await part.halt?.(exiting).catch(() => undefined);
      // Probes are removed in the target; an exiting target takes them with it (the connection is still closed).
      await this.captures.close(exiting).catch(() => undefined);
      // The last window is worth having whether we stop or the target ends (it still answers while waiting for us).
      await this.sampler.stop(!fragile).catch(() => undefined);
      await this.windowChain;
      // An exiting target takes the probes with it; a lost connection cannot remove them (they remove themselves, unread).
      if (reason === "stopped") {
        for (const part of this.parts) await part.remove?.().catch(() => undefined);
        this.heartbeat(); // final figures while the target is still there to read
        await this.session.send("NodeRuntime.notifyWhenWaitingForDisconnect", { enabled: false }).catch(() => undefined);
        if (this.lease) {
          this.inspectorOutcome = await this.lease.release(this.session, { pid: processExists(this.target.pid) ? this.target.pid : undefined, port: portOf(this.extras.url) });
        }
      }
      await this.session.close();
      const inspector = this.inspectorOutcome ? describeOutcome(this.inspectorOutcome, portOf(this.extras.url)) : this.inspectorAfterLoss(reason);
      const loud = this.inspectorOutcome !== undefined && isWarning(this.inspectorOutcome);
      this.options.outbox.send(this.target.service, {
        kind: "goodbye",
        sentAtMs: Date.now(),
        body: {
          target: this.target,
          atMs: Date.now(),
          reason: reason === "stopped" ? "DAEMON_STOPPED" : reason === "target-exited" ? "TARGET_EXITED" : "CONNECTION_LOST",
          detail: inspector ? `Seismo ${inspector}` : "",
          inspectorWarning: loud,
        },
      });
      const rotations = this.sampler.rotationStats();
      const cost = rotations.count
        ? ` (${rotations.count} window rotation(s), round trip median ${rotations.medianMs.toFixed(1)} ms, max ${rotations.maxMs.toFixed(1)} ms)`
        : "";
      const what =
        reason === "target-exited"
          ? `target pid ${this.target.pid} exited`
          : reason === "stopped"
            ? `detached from pid ${this.target.pid}`
            : `lost the inspector connection to pid ${this.target.pid}`;
      this.options.log.info(what + cost);
      if (inspector) {
        (loud ? this.options.log.warn : this.options.log.info).call(this.options.log, inspector);
      }
      this.resolveDone(reason);
    })();
    return this.finishing;
  }
}

/** The inspector's port, from its WebSocket URL. */
function portOf(url: string): number | undefined {
  try {
    const port = Number(new URL(url).port);
    return port > 0 ? port : undefined;
  } catch {
    return undefined;
  }
}

function requirePid(pid: number | undefined): number {
  if (pid === undefined) throw new SeismoError(ErrorCodes.USAGE, "Give a pid or an inspector URL to attach to.");
  return pid;
}

function safeEnviron(pid: number): Map<string, string> {
  try {
    return readEnviron(pid);
  } catch {
    return new Map();
  }
}

async function readFacts(session: InspectorSession): Promise<TargetFacts> {
  const text = await evaluateInTarget(session, TARGET_FACTS_EXPRESSION, "Seismo's question of what process it is", 10_000);
  const parsed = typeof text === "string" ? (JSON.parse(text) as Partial<TargetFacts> & { error?: string }) : undefined;
  if (!parsed || parsed.error || typeof parsed.pid !== "number") {
    throw new SeismoError(ErrorCodes.INSPECTOR_PROTOCOL, `The target did not describe itself: ${parsed?.error ?? "no answer"}.`);
  }
  return {
    pid: parsed.pid,
    nodeVersion: typeof parsed.nodeVersion === "string" ? parsed.nodeVersion : "",
    v8Version: typeof parsed.v8Version === "string" ? parsed.v8Version : "",
    argv: stringsOf(parsed.argv),
    execArgv: stringsOf(parsed.execArgv),
    cwd: typeof parsed.cwd === "string" ? parsed.cwd : "/",
  };
}

/** A list of strings from the target, checked: anything else in it is dropped. */
function stringsOf(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === "string") : [];
}
