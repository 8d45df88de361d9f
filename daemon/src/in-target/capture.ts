import type * as Inspector from "node:inspector";
import type { RawValue, ValueLimits, Values } from "./values.js";

export type { RawValue } from "./values.js";

/** What the capture code is installed with (see capture/capture-script.ts for what it does). */
export interface CaptureTargetSettings {
  key: string;
  /** The probes are removed when the daemon has not touched the capture code for this long. */
  abandonedAfterMs: number;
  /** An error probe's kept values count for an exception this long after they were taken. */
  errorFreshMs: number;
  /** An error probe that runs more often than this per second removes itself ("hot")... */
  errorMaxHitsPerSecond: number;
  /** ...and one that has run this many times in all ("budget"). */
  errorMaxHits: number;
  /** Snapshots waiting for the daemon to fetch them, at most (past it a hit is skipped and counted)... */
  maxQueued: number;
  /** ...and characters of values among them. */
  maxQueuedChars: number;
  /** Uncaught exceptions reported per second, at most (past it they are counted, not sent). */
  thrownMaxPerSecond: number;
}

export interface CaptureLimits extends ValueLimits {
  /** Stack frames kept. */
  maxFrames: number;
}

export interface ProbeConfig {
  /**
   * Who fetches its snapshots: the daemon session's name (its binding's). Several daemons (a
   * sidecar, a `seismo capture` by hand) can share one target's capture code; each fetches its own.
   */
  owner: string;
  /** Snapshots before the probe disarms itself. */
  hits: number;
  /** Unix ms after which it captures nothing. */
  expiresAtMs: number;
  /** At most one snapshot per this many ms. */
  minIntervalMs: number;
  limits: CaptureLimits;
  /** More names to redact, normalized (configuration: --redact). */
  redact: string[];
  /**
   * An error probe: armed at a line an exception was thrown from. Each hit only
   * keeps the frame's values (references, no serializing); a snapshot is taken
   * when an uncaught exception's stack passes through this file and line soon
   * after, so it shows the execution that threw, not the next one that ran the line.
   */
  onError?: { file: string; line: number };
}

/** Where V8 should break: `Debugger.setBreakpointByUrl`'s parameters. */
export interface BreakpointSpec {
  lineNumber: number;
  columnNumber: number;
  urlRegex: string;
  condition: string;
}

export interface RawSnapshot {
  id: string;
  hit: number;
  at: number;
  costUs: number;
  locals: RawValue[];
  self?: RawValue;
  stack: string[];
  last: boolean;
}

/** An uncaught exception the target reported, with an error probe's snapshot when one matched. */
export interface RawThrown {
  thrown: {
    /** The class name, or the type of a thrown non-Error ("string"). */
    name: string;
    message: string;
    /** The stack's frames, innermost first, "name (file:line:column)" as V8 prints them. */
    stack: string[];
    /** "uncaughtException" or "unhandledRejection", as Node says; "handled": the app's framework handled it (a request's error). */
    origin: string;
    at: number;
  };
  captured?: RawSnapshot;
}

/** What the daemon fetches besides snapshots: a probe's breakpoint is gone, and why. */
export interface RawRemoval {
  id: string;
  /** "hot", "budget": an error probe ran too often. */
  removed: "hits" | "ttl" | "disarmed" | "the daemon went away" | "hot" | "budget";
}

/**
 * What the daemon fetches: the snapshots and removals queued since its last fetch, in order, and
 * what was left out. The target pushes nothing of these by itself: a daemon that died (SIGKILL)
 * stops fetching, and the target has nothing to write to its closing connection (writing there
 * is what crashes Node's inspector thread, nodejs/node#34833, fixed in 24.19.0 by #64209).
 */
export interface Drained {
  /** Probes still armed. */
  armed: number;
  messages: Array<RawSnapshot | RawRemoval>;
  /** Hits skipped because the queue was full (the daemon fetched too slowly). */
  dropped: number;
  /** Uncaught exceptions not reported, over the rate. */
  droppedThrown: number;
}

/** A name the condition read in the paused frame, and how to read it. */
export type Getter = [string, () => unknown];

/** The capture code's interface in the target, as the daemon's expressions call it. */
export interface CaptureApi {
  capture(id: string, getters: Getter[], self: unknown): false;
  live(id: string): boolean;
  arm(id: string, config: ProbeConfig, breakpoint: BreakpointSpec): { resolved: boolean };
  disarm(id: string): boolean;
  drain(owner: string): Drained;
  watchErrors(binding: string): void;
  unwatchErrors(): boolean;
  thrown(error: unknown, origin: string): void;
  /** An error the app's framework handled (the HTTP instrument tells): reported only when an error probe at one of its frames has values. */
  handled(error: unknown): void;
  armed(): string[];
  readonly calls: number;
}

/**
 * In the target: the capture function and what keeps its probes. A breakpoint condition hands it
 * a getter per name, `this`, and the probe's id. It counts the hit against the probe's limits
 * (kept in the target), serializes the values within the probe's limits marking every cut,
 * redacts secret-looking names before serializing, never calls user code (no getters, Proxy
 * traps, toString or toJSON), hands the snapshot to the daemon through a Runtime binding, never
 * throws and returns false: the target never pauses. At the last hit it removes the probe's
 * breakpoint itself, synchronously, through an inspector session of its own inside the target.
 */
export function installCapture(settings: CaptureTargetSettings, values: Values): "installed" | "present" {
  const slots = globalThis as unknown as Record<symbol | string, unknown>;
  const key = Symbol.for(settings.key);
  if (slots[key]) return "present";
  const { abandonedAfterMs, errorFreshMs, errorMaxHitsPerSecond, errorMaxHits, maxQueued, maxQueuedChars, thrownMaxPerSecond } = settings;
  const { serialize, className, framesOf } = values;
  const clock = (): number => performance.now();
  interface Kept {
    values: Array<[string, boolean, unknown?]>;
    self: unknown;
    t: number;
  }
  interface Probe extends ProbeConfig {
    extra: Set<string>;
    left: number;
    last: number;
    /** "" while the probe rests between two allowed snapshots (its breakpoint removed). */
    breakpointId: string;
    /** Where to set it again after a rest: the breakpoint as asked, and where V8 put it when in one script. */
    breakpoint: BreakpointSpec;
    location: BreakpointLocation | undefined;
    timer: NodeJS.Timeout;
    rest: NodeJS.Timeout | undefined;
    second: number;
    inSecond: number;
    runs: number;
    kept: Kept | undefined;
  }
  const probes = new Map<string, Probe>();
  let calls = 0;
  // Breakpoints belong to an inspector session inside the target, so that the capture function can
  // remove a probe's breakpoint synchronously at its last hit: a round trip to the daemon takes 10 to
  // 20 ms, and every call of a hot function in between traps into the debugger (60 to 150 µs each).
  const inspector = process.getBuiltinModule("node:inspector") as typeof Inspector;
  let session: Inspector.Session | undefined;
  interface BreakpointLocation {
    scriptId: string;
    lineNumber: number;
    columnNumber?: number;
  }
  interface SetResult {
    breakpointId: string;
    locations?: BreakpointLocation[];
    actualLocation?: BreakpointLocation;
  }
  const post = (method: string, params: object): SetResult => {
    let error: Error | null = null;
    let result: unknown;
    (session as Inspector.Session).post(method, params, (e: Error | null, r?: object) => {
      error = e;
      result = r;
    });
    if (error) throw error as Error;
    return result as SetResult;
  };
  const openSession = (): void => {
    if (session) return;
    session = new inspector.Session();
    session.connect();
    post("Debugger.enable", {});
    // Never pause the target, never take part in another debugger's pauses.
    post("Debugger.setSkipAllPauses", { skip: true });
  };
  const closeSession = (): void => {
    if (!session || probes.size > 0) return;
    const s = session;
    session = undefined;
    try {
      s.post("Debugger.disable");
    } catch {
      // already gone
    }
    try {
      s.disconnect();
    } catch {
      // already gone
    }
  };
  // Only an uncaught exception is pushed, through the binding: the process may be about to exit,
  // and the daemon would never fetch it. At most thrownMaxPerSecond a second.
  let thrownSecond = 0;
  let thrownInSecond = 0;
  let droppedThrown = 0;
  const push = (binding: string, message: RawThrown): void => {
    const t = clock();
    if (t - thrownSecond >= 1000) {
      thrownSecond = t;
      thrownInSecond = 0;
    }
    if (++thrownInSecond > thrownMaxPerSecond) {
      droppedThrown++;
      return;
    }
    try {
      (slots[binding] as (payload: string) => void)(JSON.stringify(message));
    } catch {
      // the daemon's session is gone: nobody to tell
    }
  };
  // Snapshots and removals wait for their owner's next fetch (every 200 ms while a probe is
  // armed), which also tells that the owner is alive.
  interface Owner {
    touched: number;
    queue: Array<RawSnapshot | RawRemoval>;
    chars: number;
    dropped: number;
  }
  const owners = new Map<string, Owner>();
  const ownerOf = (name: string): Owner => {
    let owner = owners.get(name);
    if (owner === undefined) {
      owner = { touched: Date.now(), queue: [], chars: 0, dropped: 0 };
      owners.set(name, owner);
    }
    return owner;
  };
  const full = (owner: Owner): boolean => owner.queue.length >= maxQueued || owner.chars >= maxQueuedChars;
  const enqueue = (name: string, message: RawSnapshot | RawRemoval, chars: number): void => {
    const owner = ownerOf(name);
    owner.queue.push(message);
    owner.chars += chars;
  };
  const unset = (p: Probe): void => {
    if (p.breakpointId === "") return;
    try {
      post("Debugger.removeBreakpoint", { breakpointId: p.breakpointId });
    } catch {
      // the session closed with the breakpoint
    }
    p.breakpointId = "";
  };
  let armed = 0;
  // V8 allows one breakpoint per URL pattern and position in a session; two probes at one place
  // (an incident's and a manual one), or one probe set again after a rest, get patterns that
  // differ by an empty lookahead.
  const setByUrl = (spec: BreakpointSpec): SetResult => post("Debugger.setBreakpointByUrl", { ...spec, urlRegex: spec.urlRegex + "(?!" + ++armed + ")" });
  // A rate-limited probe rests between snapshots: its breakpoint is removed after each one and set
  // again when the next is allowed, so a function called thousands of times a second traps into
  // the debugger about once per allowed snapshot, not on every call. Set again by script and
  // position when V8 put it in one script (no search of every script's URL), else by URL.
  const rest = (id: string, p: Probe): void => {
    unset(p);
    p.rest = setTimeout(() => {
      p.rest = undefined;
      if (probes.get(id) !== p) return;
      if (Date.now() > p.expiresAtMs) {
        remove(id, "ttl");
        return;
      }
      try {
        p.breakpointId = (p.location ? post("Debugger.setBreakpoint", { location: p.location, condition: p.breakpoint.condition }) : setByUrl(p.breakpoint)).breakpointId;
      } catch {
        // The script is gone (or the session): nothing left to watch.
        remove(id, "disarmed");
      }
    }, p.minIntervalMs);
    p.rest.unref();
  };
  const remove = (id: string, reason: RawRemoval["removed"]): boolean => {
    const p = probes.get(id);
    if (p === undefined) return false;
    probes.delete(id);
    clearTimeout(p.timer);
    clearTimeout(p.rest);
    unset(p);
    enqueue(p.owner, { id, removed: reason }, 0);
    // Not from inside a breakpoint's condition: the session closes once the current task is done.
    if (probes.size === 0) setImmediate(closeSession);
    return true;
  };
  // Each daemon fetches from the capture code at least every second while it has anything armed or
  // watches exceptions; one that died (SIGKILL) stops, and what it armed is removed within a few
  // seconds, whoever else still fetches.
  const watchdog = setInterval(() => {
    // An error probe's kept values are of no use once stale: let the app's objects go.
    const staleBefore = clock() - errorFreshMs;
    for (const p of probes.values()) if (p.kept !== undefined && p.kept.t < staleBefore) p.kept = undefined;
    const gone = (name: string): boolean => Date.now() - ownerOf(name).touched > abandonedAfterMs;
    for (const [id, p] of [...probes]) if (gone(p.owner)) remove(id, "the daemon went away");
    if (errorBinding !== undefined && gone(errorBinding)) unwatchErrors();
    // An owner with nothing armed is forgotten once it stops fetching (with what it left unread).
    for (const name of owners.keys()) if (name !== errorBinding && gone(name) && ![...probes.values()].some((p) => p.owner === name)) owners.delete(name);
  }, 1_000);
  watchdog.unref();
  // An error probe keeps each hit's values by reference (cheap), to serialize only when an
  // exception passes through its line; a line that runs too often removes its probe.
  const keep = (id: string, p: Probe, getters: Getter[], self: unknown): void => {
    const t = clock();
    if (t - p.second >= 1000) {
      p.second = t;
      p.inSecond = 0;
    }
    if (++p.inSecond > errorMaxHitsPerSecond) {
      remove(id, "hot");
      return;
    }
    if (++p.runs > errorMaxHits) {
      remove(id, "budget");
      return;
    }
    const values: Kept["values"] = [];
    for (let i = 0; i < getters.length; i++) {
      const [name, read] = getters[i] as Getter;
      try {
        values.push([name, true, read()]);
      } catch {
        values.push([name, false]);
      }
    }
    p.kept = { values, self, t };
  };
  const stateFor = (p: Probe): ReturnType<Values["state"]> => values.state(p.limits, p.extra);
  const snapshotOf = (id: string, p: Probe, values: Kept["values"], self: unknown, now: number, stack: string[]): RawSnapshot => {
    p.left--;
    const t0 = clock();
    const st = stateFor(p);
    const locals = values.map(([name, ok, value]): RawValue => (ok ? serialize(name, value, 0, st) : { n: name, t: "unavailable" }));
    const snapshot: RawSnapshot = { id, hit: p.hits - p.left, at: now, costUs: 0, locals, stack: stack.slice(0, p.limits.maxFrames), last: p.left <= 0 };
    if (self !== undefined && self !== globalThis && typeof self === "object") snapshot.self = serialize("this", self, 0, st);
    snapshot.costUs = Math.round((clock() - t0) * 1000);
    return snapshot;
  };
  // Uncaught exceptions, seen through "uncaughtExceptionMonitor": it changes nothing in how the
  // app handles them (an "unhandledRejection" listener would stop Node's crash on one).
  let errorBinding: string | undefined;
  /**
   * An exception's report: pushed with the values an error probe at one of its frames kept, or,
   * for an uncaught one (`always`), without. An error the app's framework handled (`always`
   * false) is pushed only with values: its first occurrence reaches the daemon with the request
   * it failed (the HTTP instrument's kept requests), and only a probe's hit is news.
   */
  const report = (error: unknown, origin: string, always: boolean): void => {
    if (errorBinding === undefined) return;
    try {
      const isError = error instanceof Error;
      let stack: string[] = [];
      let message = "";
      let name: string = typeof error;
      if (isError) {
        name = className(error);
        message = String((Object.getOwnPropertyDescriptor(error, "message")?.value as unknown) ?? "").slice(0, 1000);
        try {
          stack = framesOf(error.stack).slice(0, 50);
        } catch {
          // a stack that cannot be read
        }
      } else if (error === null || typeof error !== "object") {
        message = String(error).slice(0, 1000);
      }
      const report: RawThrown = { thrown: { name, message, stack: stack.slice(0, 20), origin: String(origin), at: Date.now() } };
      const now = clock();
      for (const [id, p] of probes) {
        if (!p.onError || !p.kept || p.left <= 0 || now - p.kept.t > errorFreshMs) continue;
        const at = p.onError.file + ":" + p.onError.line + ":";
        if (!stack.some((f) => f.lastIndexOf(at) >= 0)) continue;
        const { values, self } = p.kept;
        p.kept = undefined;
        const captured = snapshotOf(id, p, values, self, Date.now(), report.thrown.stack);
        report.captured = captured;
        push(errorBinding, report);
        if (captured.last) remove(id, "hits");
        return;
      }
      if (always) push(errorBinding, report);
    } catch {
      // never disturb the target, least of all while it handles an exception
    }
  };
  const thrown = (error: unknown, origin: string): void => report(error, origin, true);
  const handled = (error: unknown): void => {
    // Cheap when no error probe is armed: most handled errors never reach the loop above.
    if (errorBinding !== undefined && probes.size > 0) report(error, "handled", false);
  };
  const watchErrors = (binding: string): void => {
    if (errorBinding === undefined) process.on("uncaughtExceptionMonitor", thrown);
    errorBinding = binding;
    ownerOf(binding).touched = Date.now();
  };
  const unwatchErrors = (): boolean => {
    if (errorBinding === undefined) return false;
    errorBinding = undefined;
    process.off("uncaughtExceptionMonitor", thrown);
    return true;
  };
  // Drop this function's frame and the condition's own: evaluated code, whose location is
  // "<anonymous>" (an app's anonymous function, "Server.<anonymous> (/app/server.js:9:3)", stays).
  const evaluated = (f: string): boolean => {
    const at = /\(([^()]*)\)$/.exec(f);
    return (at ? (at[1] as string) : f).startsWith("<anonymous>") || f.includes("(eval at ");
  };
  const capture = (id: string, getters: Getter[], self: unknown): false => {
    calls++;
    try {
      const p = probes.get(id);
      if (p === undefined || p.left <= 0) return false;
      const now = Date.now();
      if (now > p.expiresAtMs) {
        remove(id, "ttl");
        return false;
      }
      if (p.onError) {
        keep(id, p, getters, self);
        return false;
      }
      if (now - p.last < p.minIntervalMs) return false;
      const owner = ownerOf(p.owner);
      if (full(owner)) {
        owner.dropped++;
        return false;
      }
      p.last = now;
      p.left--;
      const t0 = clock();
      const st = stateFor(p);
      const locals: RawValue[] = [];
      for (let i = 0; i < getters.length; i++) {
        const [name, read] = getters[i] as Getter;
        let value: unknown;
        try {
          value = read();
        } catch {
          locals.push({ n: name, t: "unavailable" });
          continue;
        }
        locals.push(serialize(name, value, 0, st));
      }
      const snapshot: RawSnapshot = { id, hit: p.hits - p.left, at: now, costUs: 0, locals, stack: [], last: p.left <= 0 };
      if (self !== undefined && self !== globalThis && typeof self === "object") snapshot.self = serialize("this", self, 0, st);
      const frames = String(new Error().stack)
        .split("\n")
        .slice(1)
        .map((l) => l.trim().replace(/^at /, ""));
      snapshot.stack = frames.filter((f) => !evaluated(f) && !f.startsWith("capture ")).slice(0, p.limits.maxFrames);
      snapshot.costUs = Math.round((clock() - t0) * 1000);
      enqueue(p.owner, snapshot, st.bytes);
      if (snapshot.last) remove(id, "hits");
      else if (p.minIntervalMs > 0) rest(id, p);
    } catch {
      // never disturb the target
    }
    return false;
  };
  const api: CaptureApi = {
    capture,
    // The condition asks this first, so a probe that has used its hits costs no allocation per call.
    live(id) {
      const p = probes.get(id);
      return p !== undefined && p.left > 0;
    },
    /** Arms a probe: its breakpoint, hit limit, time-to-live and rate. Throws what V8 says when the breakpoint cannot be set. */
    arm(id, config, breakpoint) {
      openSession();
      ownerOf(config.owner).touched = Date.now();
      let result: SetResult;
      try {
        result = setByUrl(breakpoint);
      } catch (error) {
        setImmediate(closeSession);
        throw error;
      }
      const timer = setTimeout(() => remove(id, "ttl"), Math.max(0, config.expiresAtMs - Date.now()));
      timer.unref();
      const locations = result.locations ?? [];
      const location = locations.length === 1 ? locations[0] : undefined;
      probes.set(id, { ...config, extra: new Set(config.redact), left: config.hits, last: 0, breakpointId: result.breakpointId, breakpoint, location, timer, rest: undefined, second: 0, inSecond: 0, runs: 0, kept: undefined });
      return { resolved: locations.length > 0 };
    },
    disarm: (id) => remove(id, "disarmed"),
    drain(name) {
      const owner = ownerOf(name);
      owner.touched = Date.now();
      let armedHere = 0;
      for (const p of probes.values()) if (p.owner === name) armedHere++;
      const drained: Drained = { armed: armedHere, messages: owner.queue, dropped: owner.dropped, droppedThrown: name === errorBinding ? droppedThrown : 0 };
      owner.queue = [];
      owner.chars = 0;
      owner.dropped = 0;
      if (name === errorBinding) droppedThrown = 0;
      return drained;
    },
    watchErrors,
    unwatchErrors,
    /** What the "uncaughtExceptionMonitor" listener does; callable directly in tests. */
    thrown,
    handled,
    armed: () => [...probes.keys()],
    get calls() {
      return calls;
    },
  };
  Object.defineProperty(slots, key, { value: api, configurable: true, enumerable: false, writable: true });
  return "installed";
}

// Calls on the installed capture code, each sent with its arguments as settings.

export function armProbe(a: { key: string; id: string; config: ProbeConfig; breakpoint: BreakpointSpec }): { resolved: boolean } {
  return ((globalThis as unknown as Record<symbol, CaptureApi>)[Symbol.for(a.key)] as CaptureApi).arm(a.id, a.config, a.breakpoint);
}

export function disarmProbe(a: { key: string; id: string }): boolean {
  return (globalThis as unknown as Record<symbol, CaptureApi | undefined>)[Symbol.for(a.key)]?.disarm(a.id) ?? false;
}

export function drainCapture(a: { key: string; owner: string }): Drained | null {
  return (globalThis as unknown as Record<symbol, CaptureApi | undefined>)[Symbol.for(a.key)]?.drain(a.owner) ?? null;
}

export function watchErrors(a: { key: string; binding: string }): void {
  ((globalThis as unknown as Record<symbol, CaptureApi>)[Symbol.for(a.key)] as CaptureApi).watchErrors(a.binding);
}

export function unwatchErrors(key: string): boolean {
  return (globalThis as unknown as Record<symbol, CaptureApi | undefined>)[Symbol.for(key)]?.unwatchErrors() ?? false;
}

export function captureCalls(key: string): number {
  return (globalThis as unknown as Record<symbol, CaptureApi | undefined>)[Symbol.for(key)]?.calls ?? -1;
}
