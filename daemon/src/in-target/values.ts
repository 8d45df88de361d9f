import type * as BufferModule from "node:buffer";
import type * as Util from "node:util";

/**
 * In the target: how Seismo turns the app's values into what may leave the process, shared by the
 * capture code (a breakpoint's locals) and the HTTP instrument (a kept request's parameters and
 * body). Secret-looking names are redacted before anything is read; no user code runs (no getters,
 * Proxy traps, toString or toJSON); every cut is marked with its reason and how much was left out.
 * Called in the target, its value is handed to each (see script.ts).
 */

/** What the values are made with: the redaction rules of capture/redaction.ts, as data. */
export interface ValueSettings {
  /** Names always redacted, normalized (lower case, no - _ $ @ . or spaces). */
  redactedNames: readonly string[];
  /** A name containing one of these is a secret's. */
  secretNameParts: readonly string[];
  /** A name with one of these as a word of its own is a secret's ("smtp.pass", "userSSN"). */
  secretNameWords: readonly string[];
  /** Characters of a long string sent past its cut, for the daemon's redaction only (then cut). */
  redactionMargin: number;
  /** What a redacted value reads as. */
  redacted: string;
}

/** How much of a value is kept. */
export interface ValueLimits {
  maxDepth: number;
  maxFields: number;
  maxItems: number;
  maxString: number;
  /** Total characters of values in one snapshot or request. */
  maxBytes: number;
  /** Past this, what is left is marked "time" and not serialized. */
  timeBudgetMs: number;
}

/** A serialized value, as the daemon fetches it (short keys: it is built on the target's time). */
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
  /** set when `v` runs past the cut: the characters to keep once the daemon has redacted it all */
  k?: number;
}

/** One serialization's running totals: what it has kept, until when, what it has seen (cycles). */
export interface SerializeState {
  limits: ValueLimits;
  bytes: number;
  deadline: number;
  seen: Set<object>;
  /** More names to redact, normalized (configuration: --redact). */
  extra: Set<string>;
}

export interface Values {
  /** True for a secret's name: its value is never read. */
  secretName(name: string, extra: Set<string>): boolean;
  /** The class name of an object, from its prototype's own constructor (no user code runs). */
  className(value: object): string;
  serialize(name: string | undefined, value: unknown, depth: number, st: SerializeState): RawValue;
  /** A fresh serialization within `limits`, starting now. */
  state(limits: ValueLimits, extra?: Set<string>): SerializeState;
  /** An own data property's value, undefined for an accessor or none: no getter of the app's runs. */
  ownValue(object: object, name: string): unknown;
  /** The frames of an error's stack text, innermost first, "name (file:line:column)" without V8's "at ". */
  framesOf(stack: unknown): string[];
}

export function inTargetValues(settings: ValueSettings): Values {
  const { redacted, redactionMargin } = settings;
  const names = new Set(settings.redactedNames);
  const parts = settings.secretNameParts;
  const words = new Set(settings.secretNameWords);
  const { Buffer } = process.getBuiltinModule("node:buffer") as typeof BufferModule;
  const isProxy = (process.getBuiltinModule("node:util") as typeof Util).types.isProxy;
  const clock = (): number => performance.now();
  const secretName = (name: string, extra: Set<string>): boolean => {
    const k = String(name).toLowerCase().replace(/[-_$@.\s]/g, "");
    if (names.has(k) || extra.has(k)) return true;
    for (const p of parts) if (k.includes(p)) return true;
    for (const w of String(name).replace(/([a-z0-9])([A-Z])/g, "$1 $2").toLowerCase().split(/[^a-z0-9]+/)) if (words.has(w)) return true;
    return false;
  };
  const className = (value: object): string => {
    try {
      const proto = Object.getPrototypeOf(value) as object | null;
      if (proto === null) return "Object";
      const ctor = Object.getOwnPropertyDescriptor(proto, "constructor");
      return ctor && typeof ctor.value === "function" && (ctor.value as { name?: string }).name ? (ctor.value as { name: string }).name : "Object";
    } catch {
      return "Object";
    }
  };
  // A long string is cut, but the daemon sees `redactionMargin` characters more, so that a secret
  // that starts before the cut is recognized whole before it is cut (then only the kept part is stored).
  const text = (st: SerializeState, name: string | undefined, type: string, s: string, length = s.length): RawValue => {
    const L = st.limits;
    const cut = length > L.maxString;
    const v = cut ? s.slice(0, L.maxString + redactionMargin) : s;
    st.bytes += Math.min(v.length, L.maxString);
    const node: RawValue = { t: type, v };
    if (name !== undefined) node.n = name;
    if (cut) {
      node.x = "length";
      node.o = length - L.maxString;
      node.k = L.maxString;
    }
    return node;
  };
  const serialize = (name: string | undefined, value: unknown, depth: number, st: SerializeState): RawValue => {
    const L = st.limits;
    const named = (node: RawValue): RawValue => {
      if (name !== undefined) node.n = name;
      return node;
    };
    if (st.bytes >= L.maxBytes) return named({ t: "…", x: "bytes" });
    if (clock() > st.deadline) return named({ t: "…", x: "time" });
    if (name !== undefined && secretName(name, st.extra)) {
      st.bytes += 10;
      return named({ t: typeof value, v: redacted, x: "redacted" });
    }
    switch (typeof value) {
      case "string":
        return text(st, name, "string", value);
      case "number":
      case "boolean":
      case "bigint":
        st.bytes += 8;
        return named({ t: typeof value, v: String(value) });
      case "undefined":
        return named({ t: "undefined" });
      case "symbol":
        return text(st, name, "symbol", value.description === undefined ? "Symbol()" : "Symbol(" + value.description + ")");
      case "function":
        return text(st, name, "function", value.name || "(anonymous)");
    }
    if (value === null) return named({ t: "null" });
    const object = value as object;
    if (isProxy(object)) return named({ t: "Proxy" });
    const type = className(object);
    if (object instanceof Date) return text(st, name, "Date", Number.isNaN(object.getTime()) ? "Invalid Date" : object.toISOString());
    if (object instanceof RegExp) return text(st, name, "RegExp", "/" + object.source + "/" + object.flags);
    if (object instanceof Error) return text(st, name, type, String((Object.getOwnPropertyDescriptor(object, "message")?.value as unknown) ?? ""));
    if (object instanceof Promise || object instanceof WeakMap || object instanceof WeakSet) return named({ t: type });
    if (depth >= L.maxDepth) return named({ t: type, x: "depth" });
    if (st.seen.has(object)) return named({ t: type, v: "[circular]" });
    st.seen.add(object);
    const children: RawValue[] = [];
    const node = named({ t: type, c: children });
    const cut = (reason: string, left: number): void => {
      node.x = reason;
      node.o = left;
    };
    if (ArrayBuffer.isView(object) || object instanceof ArrayBuffer) {
      // Bytes as text (UTF-8), so that a secret in a Buffer is read as the daemon reads strings.
      const view = object instanceof ArrayBuffer ? { buffer: object, byteOffset: 0, byteLength: object.byteLength } : object;
      const shown = Math.min(view.byteLength, L.maxString + redactionMargin);
      return text(st, name, type, Buffer.from(view.buffer, view.byteOffset, shown).toString("utf8"), view.byteLength);
    }
    if (Array.isArray(object)) {
      const n = Math.min(object.length, L.maxItems);
      for (let i = 0; i < n; i++) {
        // A header list (req.rawHeaders: name, value, name, value): a value goes with its name.
        const before = i % 2 === 1 ? (object[i - 1] as unknown) : undefined;
        if (typeof before === "string" && before.length < 100 && typeof object[i] === "string" && secretName(before, st.extra)) {
          st.bytes += 10;
          children.push({ n: String(i), t: "string", v: redacted, x: "redacted" });
        } else children.push(serialize(String(i), object[i], depth + 1, st));
      }
      if (object.length > n) cut("items", object.length - n);
      return node;
    }
    if (object instanceof Map) {
      let i = 0;
      for (const [k, v] of object as Map<unknown, unknown>) {
        if (i++ >= L.maxItems) break;
        children.push(serialize(typeof k === "string" ? k : String(typeof k === "object" && k !== null ? "[" + className(k) + "]" : k), v, depth + 1, st));
      }
      if (object.size > L.maxItems) cut("items", object.size - L.maxItems);
      return node;
    }
    if (object instanceof Set) {
      let i = 0;
      for (const v of object as Set<unknown>) {
        if (i >= L.maxItems) break;
        children.push(serialize(String(i++), v, depth + 1, st));
      }
      if (object.size > L.maxItems) cut("items", object.size - L.maxItems);
      return node;
    }
    const keys = Object.keys(object);
    const n = Math.min(keys.length, L.maxFields);
    for (let i = 0; i < n; i++) {
      const k = keys[i] as string;
      const d = Object.getOwnPropertyDescriptor(object, k);
      if (d && !("value" in d)) {
        children.push({ n: k, t: "accessor" });
        continue;
      }
      children.push(serialize(k, d ? (d.value as unknown) : undefined, depth + 1, st));
    }
    if (keys.length > n) cut("fields", keys.length - n);
    return node;
  };
  const values: Values = {
    secretName,
    className,
    serialize,
    ownValue: (object, name) => {
      try {
        const d = Object.getOwnPropertyDescriptor(object, name);
        return d && "value" in d ? (d.value as unknown) : undefined;
      } catch {
        // a Proxy's trap that throws
        return undefined;
      }
    },
    framesOf: (stack) =>
      String(stack)
        .split("\n")
        .filter((l) => /^\s+at /.test(l))
        .map((l) => l.trim().replace(/^at /, "")),
    state: (limits, extra = new Set()) => ({ limits, bytes: 0, deadline: clock() + limits.timeBudgetMs, seen: new Set(), extra }),
  };
  // Compile the serializer now, at install, not on its first use (lazy compilation cost that use ~1 ms).
  serialize("warm", { s: "x", n: 1, b: true, d: new Date(0), a: [1], m: new Map([["k", 1]]), t: new Set([1]), u: undefined, z: null, f() {}, e: new Error("x"), r: /x/ }, 0, values.state({ maxDepth: 3, maxFields: 20, maxItems: 100, maxString: 255, maxBytes: 4096, timeBudgetMs: 5 }));
  return values;
}
