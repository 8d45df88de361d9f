import type { CapturedValue, Snapshot, TargetRef } from "@seismo/agent-proto";
import { ErrorCodes, SeismoError } from "@seismo/agent-proto";
import { evaluateInTarget } from "../in-target/evaluate.js";
import type { InspectorSession } from "../inspector/session.js";
import type { Logger } from "../logger.js";
import type { CaptureSite } from "./capture-site.js";
import { siteAtLine, siteOfNamedFunction } from "./capture-site.js";
import type { CapturePayload } from "./capture-payload.js";
import { parseCapturePayload, parseDrained } from "./capture-payload.js";
import type { CaptureLimits, RawRemoval, RawSnapshot, RawThrown, RawValue } from "./capture-script.js";
import {
  armExpression,
  CAPTURE_BINDING,
  CAPTURE_DRAIN_MS,
  CAPTURE_TOUCH_MS,
  conditionExpression,
  DEFAULT_CAPTURE_LIMITS,
  disarmExpression,
  drainExpression,
  ERROR_PROBE_MAX_HITS,
  installExpression,
  UNWATCH_ERRORS_EXPRESSION,
  watchErrorsExpression,
} from "./capture-script.js";
import type { NameRedaction } from "./redaction.js";
import { cutRedacted, DEFAULT_NAME_REDACTION, isSecretName, nameRedaction, normalizeName, REDACTED, redactString } from "./redaction.js";

/** What to capture, where, and for how long. */
export interface ArmRequest {
  /** An incident id, "manual", or "error:<fingerprint>". */
  trigger: string;
  /** The file as the target sees it (an absolute path). */
  file: string;
  /** A line (1-based)... */
  line?: number;
  /** ...and a column on it (1-based, as stacks print it): the breakpoint goes there, not at the line's first statement. */
  column?: number;
  /** ...or a function, captured at its first statement: a name V8 gives, or an anonymous one as Seismo shows it (`(anonymous) router.get('/x', …)`)... */
  functionName?: string;
  /** ...with the line it is declared on (1-based, as `seismo top` shows it), which tells apart functions that share the name. */
  functionLine?: number;
  /** Snapshots before it disarms itself (default 5). */
  hits?: number;
  /** It disarms after this long whatever happens (default 5 min). */
  ttlMs?: number;
  /** At most one snapshot per this many ms (default 100). */
  minIntervalMs?: number;
  limits?: CaptureLimits;
  /**
   * An error probe, armed at an exception's throw site (`line` required): it
   * snapshots the execution of the line that throws again, not the next one
   * that merely runs it. The snapshot carries this text as its `error`.
   */
  error?: string;
}

export interface ArmedProbe {
  probeId: string;
  trigger: string;
  file: string;
  site: CaptureSite;
  hits: number;
  expiresAtMs: number;
  /** Whether V8 found the script: false leaves the breakpoint pending until the file is loaded. */
  resolved: boolean;
  /** Snapshots published so far (what was stored, not what was asked). */
  captured: number;
}

export interface CaptureDeps {
  /** Opens another inspector session on the target. */
  connect: () => Promise<InspectorSession>;
  /** Reads a file as the target sees it. */
  readFile: (path: string) => string | undefined;
  target: () => TargetRef;
  publish: (snapshot: Snapshot) => void;
  log: Logger;
  /** Names to redact besides the built-in list (configuration: --redact). */
  redactNames?: readonly string[];
  /** The request for where V8 runs the code, when it names an original source (a source map's); undefined to keep it. */
  toGenerated?: (request: ArmRequest) => ArmRequest | undefined;
}

/** An uncaught exception the target reported, no error probe having matched it. */
export type ThrownReport = RawThrown["thrown"];

interface Probe extends ArmedProbe {
  timer: NodeJS.Timeout;
  /** Set for an error probe: the exception's text. */
  error?: string;
}

/** How long an exiting target's last messages are waited for before the connection closes. */
const EXIT_GRACE_MS = 200;

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * A stack frame as published: "name (/path/file.js:12:3)". The name is checked like any text; the
 * location, a path in the app, is kept whole (a long path segment must not read as a token).
 */
export function redactFrame(frame: string): string {
  const at = /^(.*?)( \((?:file:\/\/)?\/[^()\s]*:\d+:\d+\))$/.exec(frame);
  return at ? `${redactString(at[1] as string)}${at[2] as string}` : redactString(frame);
}

/**
 * A value as published: names and text checked again against the redaction rules, in the daemon.
 * A name is checked by shape too (a token used as a Map key); a long string is redacted over all
 * the target sent of it (the redaction margin), then cut where the target cut it; a string that
 * follows a secret name in a list (a header list) is redacted with it.
 */
export function toCapturedValue(raw: RawValue, rule: NameRedaction = DEFAULT_NAME_REDACTION): CapturedValue {
  const name = raw.n ?? "";
  const secret = name !== "" && isSecretName(name, rule) && raw.x !== "redacted";
  const value = raw.v === undefined ? "" : raw.k === undefined ? redactString(raw.v) : cutRedacted(redactString(raw.v), raw.k);
  const children = secret ? [] : (raw.c ?? []).map((c) => toCapturedValue(c, rule));
  // (Names at even places, values at odd ones, as in req.rawHeaders.)
  for (let i = 1; i < children.length; i += 2) {
    const before = children[i - 1] as CapturedValue;
    const child = children[i] as CapturedValue;
    if (before.type === "string" && child.type === "string" && child.truncated !== "redacted" && before.value.length < 100 && isSecretName(before.value, rule)) {
      children[i] = { ...child, value: REDACTED, children: [], truncated: "redacted", omitted: 0 };
    }
  }
  return {
    name: redactString(name),
    type: raw.t,
    value: secret ? REDACTED : value,
    children,
    truncated: secret ? "redacted" : (raw.x ?? ""),
    omitted: raw.o ?? 0,
  };
}

/** A probe as callers see it (without its timer). */
function armedView({ timer: _timer, ...probe }: Probe): ArmedProbe {
  return probe;
}

/**
 * The captures armed on one target.
 *
 * The breakpoints themselves are set by the capture code inside the target,
 * on an inspector session of its own, so that it removes a probe's
 * breakpoint synchronously at its last hit (see capture-script.ts). This
 * side arms and disarms over an inspector session opened with the first
 * probe and closed with the last, and fetches what the target queued
 * (snapshots, removals) every CAPTURE_DRAIN_MS while a probe is armed, every
 * CAPTURE_TOUCH_MS otherwise; each fetch touches the capture code. When the
 * daemon dies, even by SIGKILL, the fetches stop: the target sends nothing
 * more (only an uncaught exception's report is pushed, through a Runtime
 * binding) and removes every probe within CAPTURE_ABANDONED_AFTER_MS, besides
 * each probe's own hit limit and time-to-live. Before closing, the session
 * is made quiet (binding removed, Debugger off, every answer in): a message
 * the target writes to a closing connection can crash Node before 24.19.
 *
 * Both sessions enable the Debugger domain only while something is armed,
 * and skip all pauses: Seismo never pauses the target and never resumes a
 * pause another debugger made. The one exception is V8's pause near the heap
 * limit, which any enabled Debugger domain installs and which nobody else
 * might resume: this session resumes it.
 */
export class Captures {
  private session: InspectorSession | undefined;
  private opening: Promise<InspectorSession> | undefined;
  private readonly probes = new Map<string, Probe>();
  private counter = 0;
  private fetcher: NodeJS.Timeout | undefined;
  private fetchDue = Number.POSITIVE_INFINITY;
  private fetching: Promise<void> | undefined;
  /** Arms under way: the session must not close under them. */
  private arming = 0;
  private sessions = 0;
  private binding = CAPTURE_BINDING;
  /** Set while uncaught exceptions are watched: the session then stays open. */
  private onThrown: ((thrown: ThrownReport) => void) | undefined;
  private debuggerEnabled = false;

  private readonly rule: NameRedaction;

  constructor(private readonly deps: CaptureDeps) {
    this.rule = nameRedaction(deps.redactNames ?? []);
  }

  armed(): ArmedProbe[] {
    return [...this.probes.values()].map(armedView);
  }

  async arm(request: ArmRequest): Promise<ArmedProbe> {
    this.arming++;
    try {
      return await this.armNow(request);
    } finally {
      this.arming--;
      // A failed arm must not leave an idle session (and the Debugger domain) behind.
      await this.closeIfIdle();
    }
  }

  private async armNow(asked: ArmRequest): Promise<ArmedProbe> {
    // An original source (TypeScript, a module of a bundle): armed where V8 runs it.
    const request = this.deps.toGenerated?.(asked) ?? asked;
    const source = this.deps.readFile(request.file);
    if (source === undefined) {
      throw new SeismoError(ErrorCodes.NOT_FOUND, `Cannot read ${request.file} as the target sees it.`, {
        hint: "Give the file's absolute path inside the app's container (the path in `seismo top` or `seismo show`).",
      });
    }
    const site =
      request.line !== undefined ? siteAtLine(source, request.line)
      : request.functionName !== undefined ? siteOfNamedFunction(source, request.functionName, request.functionLine)
      : undefined;
    if (request.error !== undefined && request.line === undefined) {
      throw new SeismoError(ErrorCodes.USAGE, "An error probe needs the line of the throw site.");
    }
    if (!site) {
      throw new SeismoError(
        ErrorCodes.NOT_FOUND,
        request.line !== undefined ? `${request.file}:${request.line} is not in a file Seismo can parse.` : `No function "${request.functionName ?? ""}" in ${request.file}.`,
        { hint: "Give file:line, or a function declared in that file as `seismo top` names it (with its line when several share the name)." },
      );
    }
    const session = await this.ensureSession();
    const hits = request.hits ?? 5;
    const ttlMs = request.ttlMs ?? 300_000;
    const probeId = `${this.deps.target().targetId}:${++this.counter}`;
    const expiresAtMs = Date.now() + ttlMs;
    const config = {
      owner: this.binding,
      hits,
      expiresAtMs,
      minIntervalMs: request.minIntervalMs ?? 100,
      limits: request.limits ?? DEFAULT_CAPTURE_LIMITS,
      redact: (this.deps.redactNames ?? []).map(normalizeName),
      ...(request.error !== undefined && request.line !== undefined ? { onError: { file: request.file, line: request.line } } : {}),
    };
    const breakpoint = {
      lineNumber: site.line - 1,
      columnNumber: request.column !== undefined && request.line !== undefined ? request.column - 1 : site.column,
      urlRegex: `^(file://)?${escapeRegex(request.file)}$`,
      condition: conditionExpression(probeId, site.names),
    };
    await this.enableDebugger(session);
    // Known before the breakpoint exists: a hit that comes before the arm call's answer (a busy
    // route) is published, not dropped as "disarmed meanwhile".
    const timer = setTimeout(() => void this.disarm(probeId, "its time-to-live ran out"), ttlMs + 1_000);
    timer.unref();
    const probe: Probe = { probeId, trigger: request.trigger, file: request.file, site, hits, expiresAtMs, resolved: false, timer, captured: 0 };
    if (request.error !== undefined) probe.error = request.error;
    this.probes.set(probeId, probe);
    let result: { resolved: boolean };
    try {
      result = (await this.evaluate(session, armExpression(probeId, config, breakpoint))) as { resolved: boolean };
    } catch (error) {
      this.probes.delete(probeId);
      clearTimeout(timer);
      throw error;
    }
    probe.resolved = result.resolved;
    this.scheduleFetch();
    this.deps.log.info(
      `capture ${probeId} armed at ${request.file}:${site.line} (${site.functionName}) for ${hits} hit(s), ${Math.round(ttlMs / 1000)} s` +
        `${probe.resolved ? "" : "; the file is not loaded yet, the breakpoint waits for it"}`,
    );
    // (Its hits may all be taken already: then it is no longer armed, and says so.)
    return armedView(probe);
  }

  /** Removes a probe's breakpoint at once; returns false when it was not armed. */
  async disarm(probeId: string, reason = "disarmed"): Promise<boolean> {
    if (!this.probes.has(probeId)) return false;
    // What it captured and the target still holds is published first.
    await this.fetch();
    const probe = this.probes.get(probeId);
    if (!probe) return true; // its last hit came meanwhile
    this.probes.delete(probeId);
    clearTimeout(probe.timer);
    const session = this.session;
    if (session && !session.closed) await this.evaluate(session, disarmExpression(probeId)).catch(() => undefined);
    this.deps.log.info(`capture ${probeId} disarmed: ${reason}`);
    await this.closeIfIdle();
    return true;
  }

  /**
   * Reports the target's uncaught exceptions to `onThrown` from now on, with no
   * pause and no change to how the app handles them ("uncaughtExceptionMonitor").
   * An error probe's snapshot is published here, with its exception.
   */
  async watchErrors(onThrown: (thrown: ThrownReport) => void): Promise<void> {
    this.onThrown = onThrown;
    const session = await this.ensureSession();
    await this.evaluate(session, watchErrorsExpression(this.binding));
    this.scheduleFetch();
  }

  get watchingErrors(): boolean {
    return this.onThrown !== undefined;
  }

  /** The next fetch: soon while a probe is armed, at a touch's pace while only exceptions are watched. */
  private scheduleFetch(): void {
    if (this.probes.size === 0 && !this.onThrown) return;
    const delay = this.probes.size > 0 ? CAPTURE_DRAIN_MS : CAPTURE_TOUCH_MS;
    const due = Date.now() + delay;
    if (this.fetcher && this.fetchDue <= due) return;
    clearTimeout(this.fetcher);
    this.fetchDue = due;
    this.fetcher = setTimeout(() => {
      this.fetcher = undefined;
      this.fetchDue = Number.POSITIVE_INFINITY;
      void this.fetch().finally(() => this.scheduleFetch());
    }, delay);
    this.fetcher.unref();
  }

  private stopFetching(): void {
    clearTimeout(this.fetcher);
    this.fetcher = undefined;
    this.fetchDue = Number.POSITIVE_INFINITY;
  }

  /** Fetches what the target queued and handles it in order; one fetch at a time. */
  private fetch(): Promise<void> {
    this.fetching ??= this.fetchNow().finally(() => {
      this.fetching = undefined;
    });
    return this.fetching;
  }

  private async fetchNow(): Promise<void> {
    const session = this.session;
    if (!session || session.closed) return;
    let value: unknown;
    try {
      value = await this.evaluate(session, drainExpression(this.binding));
    } catch {
      return; // the target is busy or going; the next fetch gets it all
    }
    if (value === null) return; // nothing installed (any more)
    const drained = parseDrained(value);
    if (!drained) {
      this.deps.log.warn("what the target's capture code queued had an unexpected shape and was dropped");
      return;
    }
    if (drained.invalid > 0) this.deps.log.warn(`${drained.invalid} message(s) from the target's capture code had an unexpected shape and were dropped`);
    if (drained.dropped > 0) this.deps.log.warn(`${drained.dropped} hit(s) were not captured: the target's queue was full (more than it keeps between two fetches)`);
    if (drained.droppedThrown > 0) this.deps.log.warn(`${drained.droppedThrown} uncaught exception(s) were not reported: more than the target reports per second`);
    for (const message of drained.messages) this.handle(message);
  }

  /** The Debugger domain is on only while a probe is armed (for V8's near-heap-limit pause, see the class). */
  private async enableDebugger(session: InspectorSession): Promise<void> {
    if (this.debuggerEnabled) return;
    await session.send("Debugger.enable", {});
    await session.send("Debugger.setSkipAllPauses", { skip: true });
    this.debuggerEnabled = true;
  }

  /** The target removed a probe's breakpoint by itself (hits used, time-to-live). */
  private removedInTarget(removal: RawRemoval): void {
    const probe = this.probes.get(removal.id);
    if (!probe) return;
    this.probes.delete(removal.id);
    clearTimeout(probe.timer);
    const why =
      removal.removed === "hits" ? `${probe.captured} of its ${probe.hits} hit(s) captured`
      : removal.removed === "ttl" ? "its time-to-live ran out"
      : removal.removed === "hot" ? "its line runs too often to watch without slowing the app"
      : removal.removed === "budget" ? `its place ran ${ERROR_PROBE_MAX_HITS.toLocaleString("en-US")} times without the exception`
      : removal.removed;
    this.deps.log.info(`capture ${removal.id} disarmed: ${why}`);
    void this.closeIfIdle();
  }

  /**
   * Disarms everything, stops watching exceptions, and closes the session. For
   * a target that is exiting, it asks nothing of it (the probes go with it) but
   * still closes the connection: Node waits at exit for debuggers to disconnect.
   */
  async close(targetExiting = false): Promise<void> {
    if (targetExiting) {
      // The exception that ends a process is reported on this connection, and its exit on the
      // sensor's own: the two may be read in either order. The target waits for us to
      // disconnect, so a moment's grace lets the report in.
      if (this.onThrown && this.session && !this.session.closed) await new Promise((resolve) => setTimeout(resolve, EXIT_GRACE_MS));
      this.onThrown = undefined;
      for (const probe of this.probes.values()) clearTimeout(probe.timer);
      this.probes.clear();
      this.stopFetching();
      const session = this.session;
      this.session = undefined;
      this.debuggerEnabled = false;
      if (session && !session.closed) await session.close().catch(() => undefined);
      return;
    }
    const watching = this.onThrown !== undefined;
    this.onThrown = undefined;
    await this.fetch();
    for (const probeId of [...this.probes.keys()]) await this.disarm(probeId, "the sensor is detaching");
    const session = this.session;
    if (watching && session && !session.closed) await this.evaluate(session, UNWATCH_ERRORS_EXPRESSION).catch(() => undefined);
    await this.closeSession();
  }

  private async ensureSession(): Promise<InspectorSession> {
    if (this.session && !this.session.closed) return this.session;
    this.opening ??= this.openSession().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  private async openSession(): Promise<InspectorSession> {
    const session = await this.deps.connect();
    try {
      const binding = `${CAPTURE_BINDING}${process.pid}_${++this.sessions}`;
      session.on("Runtime.bindingCalled", (params) => this.onBinding(params as { name: string; payload: string }, binding));
      session.on("Debugger.paused", (params) => {
        if ((params as { reason?: string }).reason === "OOM") void session.send("Debugger.resume").catch(() => undefined);
      });
      session.onClose(() => {
        if (this.session === session) this.session = undefined;
        this.debuggerEnabled = false;
        for (const probe of this.probes.values()) clearTimeout(probe.timer);
        this.probes.clear();
      });
      await session.send("Runtime.addBinding", { name: binding });
      this.binding = binding;
      await this.evaluate(session, installExpression());
    } catch (error) {
      await session.close().catch(() => undefined);
      throw error;
    }
    this.session = session;
    return session;
  }

  private async closeIfIdle(): Promise<void> {
    if (this.probes.size > 0 || this.arming > 0) return;
    const session = this.session;
    if (!this.onThrown) await this.closeSession();
    else if (this.debuggerEnabled && session && !session.closed) {
      this.debuggerEnabled = false;
      await session.send("Debugger.disable").catch(() => undefined);
    }
  }

  private async closeSession(): Promise<void> {
    this.stopFetching();
    const session = this.session;
    this.session = undefined;
    this.debuggerEnabled = false;
    if (!session || session.closed) return;
    // Quiet before closed: no event or report can be on its way when the connection goes.
    await session.send("Runtime.removeBinding", { name: this.binding }).catch(() => undefined);
    await session.send("Debugger.disable").catch(() => undefined);
    await session.close().catch(() => undefined);
  }

  private evaluate(session: InspectorSession, expression: string): Promise<unknown> {
    return evaluateInTarget(session, expression, "the capture code", 10_000);
  }

  private onBinding(params: { name: string; payload: string }, binding: string): void {
    if (params.name !== binding) return;
    const message = parseCapturePayload(params.payload);
    if (!message) {
      this.deps.log.warn(`a message from the target's capture code had an unexpected shape and was dropped (${params.payload.length} characters)`);
      return;
    }
    this.handle(message);
  }

  private handle(message: CapturePayload): void {
    if (message.kind === "removed") this.removedInTarget(message.removal);
    else if (message.kind === "snapshot") this.publishSnapshot(message.snapshot);
    else if (message.thrown.captured) this.publishSnapshot(message.thrown.captured, `${message.thrown.thrown.name}: ${message.thrown.thrown.message}`);
    else this.onThrown?.(message.thrown.thrown);
  }

  private publishSnapshot(raw: RawSnapshot, thrown?: string): void {
    const probe = this.probes.get(raw.id);
    if (!probe) return; // disarmed meanwhile
    probe.captured++;
    this.deps.publish({
      target: this.deps.target(),
      probeId: probe.probeId,
      trigger: probe.trigger,
      file: probe.file,
      line: probe.site.line,
      column: probe.site.column,
      functionName: probe.site.functionName,
      capturedAtMs: raw.at,
      hit: raw.hit,
      last: raw.last,
      stack: raw.stack.map(redactFrame),
      locals: raw.locals.map((v) => toCapturedValue(v, this.rule)),
      thisValue: raw.self ? toCapturedValue(raw.self, this.rule) : null,
      captureCostUs: raw.costUs,
      error: thrown === undefined ? (probe.error ?? "") : redactString(thrown),
    });
  }
}
