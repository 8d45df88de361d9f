import { REDACTED, REDACTED_NAMES, SECRET_NAME_PARTS } from "./redaction.js";

/** Probes are removed when the daemon has not touched the capture code for this long (it died). */
export const CAPTURE_ABANDONED_AFTER_MS = 5_000;

/**
 * The capture function Seismo installs in the target, and the breakpoint
 * condition that calls it.
 *
 * A breakpoint condition runs in the paused frame, so it can read the
 * frame's variables by name. Seismo's condition hands the capture function
 * a getter per name, `this`, and the probe's id. The capture function:
 * - counts the hit against the probe's hit limit, time-to-live and rate,
 *   all kept in the target, so a probe stops capturing at its limit even
 *   before the daemon removes the breakpoint;
 * - serializes the values within the probe's limits (depth, fields per
 *   object, items per collection, string length, total bytes, time),
 *   marking every cut with the reason and how much was left out;
 * - replaces the value of any secret-looking name with "[redacted]" before
 *   it is serialized, so it never leaves the target's memory;
 * - never calls user code: no getters (accessors are listed, not read), no
 *   Proxy traps, no toString or toJSON;
 * - hands the snapshot to the daemon through a Runtime binding (a push, no
 *   polling), never throws, and returns false: the target never pauses;
 * - removes the probe's breakpoint itself, synchronously, at the last hit,
 *   through an inspector session of its own inside the target (see below),
 *   and at the time-to-live, or when the daemon stops touching it.
 */
export const CAPTURE_KEY = 'Symbol.for("seismo.capture.v1")';

/**
 * The Runtime binding the capture function calls with each snapshot (JSON): this prefix and a
 * number per inspector session. V8 ties a binding to the session that added it, so a binding left
 * by a closed session would swallow the snapshots of the next one.
 */
export const CAPTURE_BINDING = "__seismoCapture";

export interface CaptureLimits {
  maxDepth: number;
  maxFields: number;
  maxItems: number;
  maxString: number;
  /** Total characters of values in one snapshot. */
  maxBytes: number;
  /** Stack frames kept. */
  maxFrames: number;
  /** Past this, what is left is marked "time" and not serialized. */
  timeBudgetMs: number;
}

/** As strict as the strictest peers: depth 3, 20 fields, 100 items, 255 characters. */
export const DEFAULT_CAPTURE_LIMITS: CaptureLimits = { maxDepth: 3, maxFields: 20, maxItems: 100, maxString: 255, maxBytes: 32_768, maxFrames: 10, timeBudgetMs: 10 };

export interface ProbeConfig {
  /** The Runtime binding to hand snapshots to. */
  binding: string;
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

/**
 * An error probe traps into the debugger each time its position runs, and a
 * lone trap costs the app about 0.4 ms (bench/capture.mjs). One that runs
 * more often than this per second removes itself ("hot"), and so does one
 * that has run this many times in all ("budget"): at most a second or two of
 * the app's time per probe.
 */
export const ERROR_PROBE_MAX_HITS_PER_SECOND = 50;
export const ERROR_PROBE_MAX_HITS = 3_000;

/** An error probe's kept values count for an exception this long after they were taken. */
export const ERROR_PROBE_FRESH_MS = 1_000;

/** A serialized value: the shape the binding carries (short keys: it is built on the target's time). */
export interface RawValue {
  /** name (field, variable, key or index) */
  n?: string;
  /** type: "string", "number", ..., or the class name of an object ("Object", "Map", "Order") */
  t: string;
  /** the value, as text, for primitives and a few objects (Date, RegExp, Error message) */
  v?: string;
  /** children */
  c?: RawValue[];
  /** why it was cut: depth, fields, items, length, bytes, time; "redacted" for a secret */
  x?: string;
  /** how much was left out (fields, items or characters) */
  o?: number;
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
    /** "uncaughtException" or "unhandledRejection", as Node says. */
    origin: string;
    at: number;
  };
  captured?: RawSnapshot;
}

export function installExpression(): string {
  return `(() => {
  const key = ${CAPTURE_KEY};
  if (globalThis[key]) return "present";
  const names = new Set(${JSON.stringify(REDACTED_NAMES)});
  const parts = ${JSON.stringify(SECRET_NAME_PARTS)};
  const isProxy = process.getBuiltinModule("node:util").types.isProxy;
  const clock = () => performance.now();
  const secretName = (name, extra) => {
    const k = String(name).toLowerCase().replace(/[-_$@.\\s]/g, "");
    if (names.has(k) || extra.has(k)) return true;
    for (const p of parts) if (k.includes(p)) return true;
    return false;
  };
  const probes = new Map();
  let calls = 0;
  const className = (value) => {
    try {
      const proto = Object.getPrototypeOf(value);
      if (proto === null) return "Object";
      const ctor = Object.getOwnPropertyDescriptor(proto, "constructor");
      return ctor && typeof ctor.value === "function" && ctor.value.name ? ctor.value.name : "Object";
    } catch { return "Object"; }
  };
  const text = (st, name, type, s) => {
    const L = st.limits;
    const cut = s.length > L.maxString;
    const v = cut ? s.slice(0, L.maxString) : s;
    st.bytes += v.length;
    const node = { t: type, v };
    if (name !== undefined) node.n = name;
    if (cut) { node.x = "length"; node.o = s.length - L.maxString; }
    return node;
  };
  const serialize = (name, value, depth, st) => {
    const L = st.limits;
    const named = (node) => { if (name !== undefined) node.n = name; return node; };
    if (st.bytes >= L.maxBytes) return named({ t: "…", x: "bytes" });
    if (clock() > st.deadline) return named({ t: "…", x: "time" });
    if (name !== undefined && secretName(name, st.extra)) { st.bytes += 10; return named({ t: typeof value, v: "${REDACTED}", x: "redacted" }); }
    switch (typeof value) {
      case "string": return text(st, name, "string", value);
      case "number": case "boolean": case "bigint": st.bytes += 8; return named({ t: typeof value, v: String(value) });
      case "undefined": return named({ t: "undefined" });
      case "symbol": return text(st, name, "symbol", value.description === undefined ? "Symbol()" : "Symbol(" + value.description + ")");
      case "function": return text(st, name, "function", value.name || "(anonymous)");
    }
    if (value === null) return named({ t: "null" });
    if (isProxy(value)) return named({ t: "Proxy" });
    const type = className(value);
    if (value instanceof Date) return text(st, name, "Date", Number.isNaN(value.getTime()) ? "Invalid Date" : value.toISOString());
    if (value instanceof RegExp) return text(st, name, "RegExp", "/" + value.source + "/" + value.flags);
    if (value instanceof Error) {
      const node = text(st, name, type, String(Object.getOwnPropertyDescriptor(value, "message")?.value ?? ""));
      return node;
    }
    if (value instanceof Promise || value instanceof WeakMap || value instanceof WeakSet) return named({ t: type });
    if (depth >= L.maxDepth) return named({ t: type, x: "depth" });
    if (st.seen.has(value)) return named({ t: type, v: "[circular]" });
    st.seen.add(value);
    const children = [];
    const node = named({ t: type, c: children });
    const cut = (reason, left) => { node.x = reason; node.o = left; };
    if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
      const n = Math.min(value.length, L.maxItems);
      node.v = "length " + value.length;
      for (let i = 0; i < n; i++) children.push(serialize(String(i), value[i], depth + 1, st));
      if (value.length > n) cut("items", value.length - n);
      return node;
    }
    if (Array.isArray(value)) {
      const n = Math.min(value.length, L.maxItems);
      for (let i = 0; i < n; i++) children.push(serialize(String(i), value[i], depth + 1, st));
      if (value.length > n) cut("items", value.length - n);
      return node;
    }
    if (value instanceof Map) {
      let i = 0;
      for (const [k, v] of value) {
        if (i++ >= L.maxItems) break;
        children.push(serialize(typeof k === "string" ? k : String(typeof k === "object" && k !== null ? "[" + className(k) + "]" : k), v, depth + 1, st));
      }
      if (value.size > L.maxItems) cut("items", value.size - L.maxItems);
      return node;
    }
    if (value instanceof Set) {
      let i = 0;
      for (const v of value) { if (i >= L.maxItems) break; children.push(serialize(String(i++), v, depth + 1, st)); }
      if (value.size > L.maxItems) cut("items", value.size - L.maxItems);
      return node;
    }
    const keys = Object.keys(value);
    const n = Math.min(keys.length, L.maxFields);
    for (let i = 0; i < n; i++) {
      const k = keys[i];
      const d = Object.getOwnPropertyDescriptor(value, k);
      if (d && !("value" in d)) { children.push({ n: k, t: "accessor" }); continue; }
      children.push(serialize(k, d ? d.value : undefined, depth + 1, st));
    }
    if (keys.length > n) cut("fields", keys.length - n);
    return node;
  };
  // Breakpoints belong to an inspector session inside the target, so that the capture function can
  // remove a probe's breakpoint synchronously at its last hit: a round trip to the daemon takes 10 to
  // 20 ms, and every call of a hot function in between traps into the debugger (60 to 150 µs each).
  const inspector = process.getBuiltinModule("node:inspector");
  let session;
  const post = (method, params) => {
    let error, result;
    session.post(method, params, (e, r) => { error = e; result = r; });
    if (error) throw error;
    return result;
  };
  const openSession = () => {
    if (session) return;
    session = new inspector.Session();
    session.connect();
    post("Debugger.enable", {});
    // Never pause the target, never take part in another debugger's pauses.
    post("Debugger.setSkipAllPauses", { skip: true });
  };
  const closeSession = () => {
    if (!session || probes.size > 0) return;
    const s = session;
    session = undefined;
    try { s.post("Debugger.disable"); } catch {}
    try { s.disconnect(); } catch {}
  };
  const notify = (p, message) => { try { globalThis[p.binding](JSON.stringify(message)); } catch {} };
  const remove = (id, reason) => {
    const p = probes.get(id);
    if (p === undefined) return false;
    probes.delete(id);
    clearTimeout(p.timer);
    try { post("Debugger.removeBreakpoint", { breakpointId: p.breakpointId }); } catch {}
    notify(p, { id, removed: reason });
    // Not from inside a breakpoint's condition: the session closes once the current task is done.
    if (probes.size === 0) setImmediate(closeSession);
    return true;
  };
  // The daemon touches the capture code every second while anything is armed; a daemon that died
  // (SIGKILL) stops touching it, and its probes are removed within a few seconds.
  let touched = Date.now();
  let armed = 0;
  const watchdog = setInterval(() => {
    // An error probe's kept values are of no use once stale: let the app's objects go.
    const staleBefore = clock() - ${ERROR_PROBE_FRESH_MS};
    for (const p of probes.values()) if (p.kept !== undefined && p.kept.t < staleBefore) p.kept = undefined;
    if ((probes.size > 0 || errorBinding !== undefined) && Date.now() - touched > ${CAPTURE_ABANDONED_AFTER_MS}) {
      for (const id of [...probes.keys()]) remove(id, "the daemon went away");
      unwatchErrors();
    }
  }, 1_000);
  watchdog.unref();
  // An error probe keeps each hit's values by reference (cheap), to serialize only when an
  // exception passes through its line; a line that runs too often removes its probe.
  const keep = (id, p, getters, self) => {
    const t = clock();
    if (t - p.second >= 1000) { p.second = t; p.inSecond = 0; }
    if (++p.inSecond > ${ERROR_PROBE_MAX_HITS_PER_SECOND}) { remove(id, "hot"); return; }
    if (++p.runs > ${ERROR_PROBE_MAX_HITS}) { remove(id, "budget"); return; }
    const values = [];
    for (let i = 0; i < getters.length; i++) {
      try { values.push([getters[i][0], true, getters[i][1]()]); } catch { values.push([getters[i][0], false]); }
    }
    p.kept = { values, self, t };
  };
  const snapshotOf = (id, p, values, self, now, stack) => {
    p.left--;
    const t0 = clock();
    const st = { limits: p.limits, bytes: 0, deadline: t0 + p.limits.timeBudgetMs, seen: new Set(), extra: p.extra };
    const locals = values.map(([name, ok, value]) => (ok ? serialize(name, value, 0, st) : { n: name, t: "unavailable" }));
    const snapshot = { id, hit: p.hits - p.left, at: now, costUs: 0, locals, stack: stack.slice(0, p.limits.maxFrames), last: p.left <= 0 };
    if (self !== undefined && self !== globalThis && typeof self === "object") snapshot.self = serialize("this", self, 0, st);
    snapshot.costUs = Math.round((clock() - t0) * 1000);
    return snapshot;
  };
  const framesOf = (stack) => String(stack).split("\\n").filter((l) => /^\\s+at /.test(l)).map((l) => l.trim().replace(/^at /, ""));
  // Uncaught exceptions, seen through "uncaughtExceptionMonitor": it changes nothing in how the
  // app handles them (an "unhandledRejection" listener would stop Node's crash on one).
  let errorBinding;
  const thrown = (error, origin) => {
    if (errorBinding === undefined) return;
    try {
      const isError = error instanceof Error;
      let stack = [];
      let message = "";
      let name = typeof error;
      if (isError) {
        name = className(error);
        message = String(Object.getOwnPropertyDescriptor(error, "message")?.value ?? "").slice(0, 1000);
        try { stack = framesOf(error.stack).slice(0, 50); } catch {}
      } else if (error === null || typeof error !== "object") {
        message = String(error).slice(0, 1000);
      }
      const report = { thrown: { name, message, stack: stack.slice(0, 20), origin: String(origin), at: Date.now() } };
      const now = clock();
      for (const [id, p] of probes) {
        if (!p.onError || !p.kept || p.left <= 0 || now - p.kept.t > ${ERROR_PROBE_FRESH_MS}) continue;
        const passes = stack.some((f) => { const at = f.lastIndexOf(p.onError.file + ":" + p.onError.line + ":"); return at >= 0; });
        if (!passes) continue;
        const { values, self } = p.kept;
        p.kept = undefined;
        report.captured = snapshotOf(id, p, values, self, Date.now(), report.thrown.stack);
        notify({ binding: errorBinding }, report);
        if (report.captured.last) remove(id, "hits");
        return;
      }
      notify({ binding: errorBinding }, report);
    } catch {
      // never disturb the target, least of all while it handles an exception
    }
  };
  const watchErrors = (binding) => {
    if (errorBinding === undefined) process.on("uncaughtExceptionMonitor", thrown);
    errorBinding = binding;
    touched = Date.now();
  };
  const unwatchErrors = () => {
    if (errorBinding === undefined) return false;
    errorBinding = undefined;
    process.off("uncaughtExceptionMonitor", thrown);
    return true;
  };
  const capture = (id, getters, self) => {
    calls++;
    try {
      const p = probes.get(id);
      if (p === undefined || p.left <= 0) return false;
      const now = Date.now();
      if (now > p.expiresAtMs) { remove(id, "ttl"); return false; }
      if (p.onError) { keep(id, p, getters, self); return false; }
      if (now - p.last < p.minIntervalMs) return false;
      p.last = now;
      p.left--;
      const t0 = clock();
      const st = { limits: p.limits, bytes: 0, deadline: t0 + p.limits.timeBudgetMs, seen: new Set(), extra: p.extra };
      const locals = [];
      for (let i = 0; i < getters.length; i++) {
        const name = getters[i][0];
        let value;
        try { value = getters[i][1](); } catch { locals.push({ n: name, t: "unavailable" }); continue; }
        locals.push(serialize(name, value, 0, st));
      }
      const snapshot = { id, hit: p.hits - p.left, at: now, costUs: 0, locals, stack: [], last: p.left <= 0 };
      if (self !== undefined && self !== globalThis && typeof self === "object") snapshot.self = serialize("this", self, 0, st);
      const frames = String(new Error().stack).split("\\n").slice(1).map((l) => l.trim().replace(/^at /, ""));
      // Drop this function's frame and the condition's own: evaluated code, whose location is
      // "<anonymous>" (an app's anonymous function, "Server.<anonymous> (/app/server.js:9:3)", stays).
      const evaluated = (f) => { const at = /\\(([^()]*)\\)$/.exec(f); return (at ? at[1] : f).startsWith("<anonymous>") || f.includes("(eval at "); };
      snapshot.stack = frames.filter((f) => !evaluated(f) && !f.startsWith("capture ")).slice(0, p.limits.maxFrames);
      snapshot.costUs = Math.round((clock() - t0) * 1000);
      notify(p, snapshot);
      if (snapshot.last) remove(id, "hits");
    } catch {
      // never disturb the target
    }
    return false;
  };
  const api = {
    capture,
    // The condition asks this first, so a probe that has used its hits costs no allocation per call.
    live(id) { const p = probes.get(id); return p !== undefined && p.left > 0; },
    /** Arms a probe: its breakpoint, hit limit, time-to-live and rate. Throws what V8 says when the breakpoint cannot be set. */
    arm(id, config, breakpoint) {
      openSession();
      touched = Date.now();
      let result;
      try {
        // V8 allows one breakpoint per URL pattern and position in a session; two probes at one place
        // (an incident's and a manual one) get patterns that differ by an empty lookahead.
        result = post("Debugger.setBreakpointByUrl", { ...breakpoint, urlRegex: breakpoint.urlRegex + "(?!" + ++armed + ")" });
      } catch (error) {
        setImmediate(closeSession);
        throw error;
      }
      const timer = setTimeout(() => remove(id, "ttl"), Math.max(0, config.expiresAtMs - Date.now()));
      timer.unref();
      probes.set(id, { ...config, extra: new Set(config.redact), left: config.hits, last: 0, breakpointId: result.breakpointId, timer, second: 0, inSecond: 0, runs: 0, kept: undefined });
      return { resolved: result.locations.length > 0 };
    },
    disarm(id) { return remove(id, "disarmed"); },
    touch() { touched = Date.now(); return probes.size; },
    watchErrors,
    unwatchErrors,
    /** What the "uncaughtExceptionMonitor" listener does; callable directly in tests. */
    thrown,
    armed() { return [...probes.keys()]; },
    get calls() { return calls; },
  };
  // Compile the serializer now, at install, not on the first hit (lazy compilation cost that hit ~1 ms).
  const warm = { limits: { maxDepth: 3, maxFields: 20, maxItems: 100, maxString: 255, maxBytes: 4096, maxFrames: 10, timeBudgetMs: 5 }, bytes: 0, deadline: clock() + 5, seen: new Set(), extra: new Set() };
  serialize("warm", { s: "x", n: 1, b: true, d: new Date(0), a: [1], m: new Map([["k", 1]]), t: new Set([1]), u: undefined, z: null, f() {}, e: new Error("x"), r: /x/ }, 0, warm);
  Object.defineProperty(globalThis, key, { value: api, configurable: true, enumerable: false, writable: true });
  return "installed";
})()`;
}

/**
 * The breakpoint condition for a probe: reads the site's names and returns false. It asks whether
 * the probe is live before building the getters, so that the calls between the last hit and the
 * breakpoint's removal cost as little as a trap can.
 */
export function conditionExpression(probeId: string, names: readonly string[]): string {
  const getters = names.map((n) => `[${JSON.stringify(n)}, () => ${n}]`).join(", ");
  const id = JSON.stringify(probeId);
  return `(globalThis[${CAPTURE_KEY}]?.live(${id}) === true && globalThis[${CAPTURE_KEY}].capture(${id}, [${getters}], this))`;
}

/** Where V8 should break: `Debugger.setBreakpointByUrl`'s parameters. */
export interface BreakpointSpec {
  lineNumber: number;
  columnNumber: number;
  urlRegex: string;
  condition: string;
}

/** Arms a probe in the target; evaluates to `{ resolved }`, or throws when V8 refuses the breakpoint. */
export function armExpression(probeId: string, config: ProbeConfig, breakpoint: BreakpointSpec): string {
  return `globalThis[${CAPTURE_KEY}].arm(${JSON.stringify(probeId)}, ${JSON.stringify(config)}, ${JSON.stringify(breakpoint)})`;
}

export const TOUCH_EXPRESSION = `(globalThis[${CAPTURE_KEY}]?.touch() ?? -1)`;

/** What the binding carries besides snapshots: a probe's breakpoint is gone, and why. */
export interface RawRemoval {
  id: string;
  /** "hot", "budget": an error probe ran too often (ERROR_PROBE_MAX_HITS_PER_SECOND, ERROR_PROBE_MAX_HITS). */
  removed: "hits" | "ttl" | "disarmed" | "the daemon went away" | "hot" | "budget";
}

/** Starts reporting uncaught exceptions through `binding`; idempotent. */
export function watchErrorsExpression(binding: string): string {
  return `globalThis[${CAPTURE_KEY}].watchErrors(${JSON.stringify(binding)})`;
}

export const UNWATCH_ERRORS_EXPRESSION = `(globalThis[${CAPTURE_KEY}]?.unwatchErrors() ?? false)`;

export function disarmExpression(probeId: string): string {
  return `(globalThis[${CAPTURE_KEY}]?.disarm(${JSON.stringify(probeId)}) ?? false)`;
}

export const CALLS_EXPRESSION = `(globalThis[${CAPTURE_KEY}]?.calls ?? -1)`;
