/**
 * In the target: the aggregates the HTTP and database instruments share (one entry per method,
 * route, host and status, with a log-scale latency histogram as agent-proto latency.ts defines
 * it), the loading of Node's built-in modules, and the wrapping of a library's method in every
 * copy the process loaded. Called in the target, its value is handed to each instrument (see
 * script.ts).
 */

export interface LatencyScale {
  /** Latencies up to this many ms fall in bucket 0. */
  minMs: number;
  bucketsPerDoubling: number;
  maxBucket: number;
}

export interface AggregateEntry {
  method: string;
  route: string;
  host: string;
  status: number;
  template: boolean;
  count: number;
  totalMs: number;
  maxMs: number;
  buckets: Uint32Array;
}

/** One entry as a read returns it (a tuple: smaller over the wire); parsed by parseInstrumentEntries. */
export type EntryTuple = [string, string, number, boolean, number, number, number, number[], number[], string];

export type AnyMethod = ((this: unknown, ...args: unknown[]) => unknown) & Record<symbol, unknown>;

/** One method an instrument wrapped: what to put back. */
export interface Wrapping {
  proto: Record<string, unknown>;
  method: string;
  original: AnyMethod;
  wrapped: AnyMethod;
}

export interface Aggregates {
  /** A built-in module (process.getBuiltinModule, or require on Node before 20.16). */
  load<T>(name: string): T;
  /** The paths of the CommonJS modules the process has loaded (its module cache). */
  loadedModules(): string[];
  /**
   * Wraps `method` of the class every loaded module whose path ends with `fileSuffix` exports
   * (pg's Client, Koa's Application), or with `on: "exports"` the module's export of that name
   * (Hono's Context class; a method of an exported function, as Express 4's router has), once each (`marker` tells a wrapper of ours, this install's or an
   * earlier one's): the wrappings made now.
   */
  wrapLoaded(fileSuffix: string, method: string, marker: symbol, wrap: (original: AnyMethod) => AnyMethod, on?: "prototype" | "exports"): Wrapping[];
  /** Puts each original back; a wrapper something else wrapped since stays, and must pass through by then. */
  unwrap(wrappings: readonly Wrapping[]): void;
  newEntry(method: string, route: string, host: string, status: number, template: boolean): AggregateEntry;
  /** weight: how many requests this one stands for (1, or N when one in N is timed). */
  addLatency(entry: AggregateEntry, ms: number, weight: number): void;
  toTuple(entry: AggregateEntry): EntryTuple;
  /** The upper edge (ms) of the bucket the q-quantile of the entry's latencies falls in. */
  quantileMs(entry: AggregateEntry, q: number): number;
}

export function inTargetAggregates(scale: LatencyScale): Aggregates {
  const { minMs, bucketsPerDoubling, maxBucket } = scale;
  const target = process as NodeJS.Process & { mainModule?: { require(id: string): unknown } };
  const load = <T>(name: string): T => (target.getBuiltinModule ? target.getBuiltinModule(name) : target.mainModule?.require(name)) as T;
  const moduleCache = (): Record<string, { exports?: unknown } | undefined> => load<{ _cache?: Record<string, { exports?: unknown } | undefined> }>("node:module")._cache ?? {};
  return {
    load,
    loadedModules: () => Object.keys(moduleCache()),
    wrapLoaded: (fileSuffix, method, marker, wrap, on = "prototype") => {
      const made: Wrapping[] = [];
      const cache = moduleCache();
      for (const file of Object.keys(cache)) {
        if (!file.endsWith(fileSuffix)) continue;
        const exported = cache[file]?.exports;
        // What holds the wrapped function: the module's exports object, or its exported class's prototype.
        let proto: Record<string, unknown> | undefined;
        if (on === "exports") proto = exported && (typeof exported === "object" || typeof exported === "function") ? (exported as Record<string, unknown>) : undefined;
        else proto = typeof exported === "function" ? (exported.prototype as Record<string, unknown> | undefined) : undefined;
        const original = proto?.[method];
        if (!proto || typeof original !== "function" || (original as AnyMethod)[marker]) continue;
        const wrapped = wrap(original as AnyMethod);
        wrapped[marker] = true;
        proto[method] = wrapped;
        made.push({ proto, method, original: original as AnyMethod, wrapped });
      }
      return made;
    },
    unwrap: (wrappings) => {
      for (const { proto, method, original, wrapped } of wrappings) if (proto[method] === wrapped) proto[method] = original;
    },
    newEntry: (method, route, host, status, template) => ({ method, route, host, status, template, count: 0, totalMs: 0, maxMs: 0, buckets: new Uint32Array(maxBucket + 1) }),
    addLatency: (entry, ms, weight) => {
      entry.count += weight;
      entry.totalMs += ms * weight;
      if (ms > entry.maxMs) entry.maxMs = ms;
      entry.buckets[ms > minMs ? Math.min(maxBucket, Math.ceil(Math.log2(ms / minMs) * bucketsPerDoubling)) : 0]! += weight;
    },
    quantileMs: (e, q) => {
      const rank = q * e.count;
      let seen = 0;
      for (let bucket = 0; bucket < e.buckets.length; bucket++) {
        seen += e.buckets[bucket] as number;
        if (seen >= rank) return minMs * 2 ** (bucket / bucketsPerDoubling);
      }
      return e.maxMs;
    },
    toTuple: (e) => {
      const indexes: number[] = [];
      const counts: number[] = [];
      e.buckets.forEach((count, bucket) => {
        if (count > 0) {
          indexes.push(bucket);
          counts.push(count);
        }
      });
      return [e.method, e.route, e.status, e.template, e.count, e.totalMs, e.maxMs, indexes, counts, e.host];
    },
  };
}
