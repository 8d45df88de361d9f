import type * as DiagnosticsChannel from "node:diagnostics_channel";
import type * as PerfHooks from "node:perf_hooks";
import type { AggregateEntry, Aggregates, EntryTuple } from "./aggregates.js";

export interface HttpInstrumentTargetSettings {
  key: string;
  /** Distinct routes (and host-and-route pairs) kept per window; past it, "(other)". */
  maxEntries: number;
  /** The instrument removes itself at the first event after nobody has read it for this long. */
  abandonedAfterMs: number;
  /** Served requests timed per second at most; past it, one in N counts N times. */
  maxTimedPerSecond: number;
}

/** What the instrument reads of a server request, a response and a client request: only these, defensively. */
interface ServerRequest {
  method?: string;
  url?: string;
  baseUrl?: unknown;
  route?: { path?: unknown };
}
type Timed = Record<symbol, number | undefined>;
interface ServerResponse {
  statusCode?: unknown;
}
interface ClientRequest {
  method?: string;
  path?: unknown;
  origin?: unknown;
  host?: unknown;
  getHeader?: (name: string) => unknown;
}

/** [server entries, client entries, the window's largest N of "one in N timed"]. */
export type HttpInstrumentReading = [EntryTuple[], EntryTuple[], number];

/**
 * In the target: subscribes to Node's own HTTP server channels (`http.server.request.start`,
 * `http.server.response.finish`), which every framework built on node:http publishes through,
 * and keeps per-window aggregates per method, route and status; outgoing calls the same way,
 * from request start to response headers, through node:http's client channels and undici's
 * (which Node's fetch publishes on), status 0 for a call that failed without a response.
 * Nothing per request leaves the target; a read returns the aggregates and starts the next
 * window. Idempotent: a re-attach reuses the installed instrument. See instruments/http-instrument.ts.
 */
export function installHttpInstrument(settings: HttpInstrumentTargetSettings, lib: Aggregates): "installed" | "present" {
  const slots = globalThis as unknown as Record<symbol, unknown>;
  const key = Symbol.for(settings.key);
  if (slots[key]) return "present";
  const { maxEntries, abandonedAfterMs, maxTimedPerSecond } = settings;
  const { newEntry, addLatency, toTuple } = lib;
  const dc = lib.load<typeof DiagnosticsChannel>("node:diagnostics_channel");
  const { performance } = lib.load<typeof PerfHooks>("node:perf_hooks");
  // The start time rides on the response under a private symbol: a WeakMap costs more per request.
  const kStart = Symbol("seismo.requestStart");
  // Id-like path segments: numbers, UUIDs, long hex, token-like strings (16+ characters with a
  // digit), anything over 40 characters. One native regular-expression pass over the path
  // (case-sensitive classes: V8 runs /i expressions slower).
  const IDS = /\/(?:\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{12,}|(?=[^/]*\d)[A-Za-z0-9_\-.~%+=]{16,}|[^/]{41,})(?=\/|$)/g;
  const METHOD_NAMES = ["OTHER", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"];
  const METHODS = new Map(METHOD_NAMES.map((name, i) => [name, i]));
  type Table = Map<string, Map<number, AggregateEntry>>;
  let table: Table = new Map();
  let calls: Table = new Map();
  let lastRead = performance.now();
  // Sampling of served requests under heavy traffic: one in sampleEvery is timed and counts for
  // sampleEvery. The rate is re-read every 1,024 requests and at each read.
  let sampleEvery = 1;
  let largestEvery = 1;
  let tick = 0;
  let sinceAdjust = 0;
  let adjustedAt = performance.now();
  const adjust = (): void => {
    const now = performance.now();
    const rate = now > adjustedAt ? (sinceAdjust * 1000) / (now - adjustedAt) : 0;
    sinceAdjust = 0;
    adjustedAt = now;
    sampleEvery = rate > maxTimedPerSecond ? Math.ceil(rate / maxTimedPerSecond) : 1;
    if (sampleEvery > largestEvery) largestEvery = sampleEvery;
  };
  const normalize = (url: string): string => {
    const end = url.indexOf("?");
    let path = end >= 0 ? url.slice(0, end) : url;
    if (path.length > 512) path = path.slice(0, 512);
    // No pre-check: a test for "might hold an id" measured slower than the replace itself.
    path = path.replace(IDS, "/:id");
    // At most 11 segments: a deep path is cut, not kept whole.
    let slash = -1;
    for (let i = 0; i < 11; i++) {
      slash = path.indexOf("/", slash + 1);
      if (slash < 0) break;
    }
    if (slash >= 0) {
      const next = path.indexOf("/", slash + 1);
      if (next >= 0) path = path.slice(0, next);
    }
    return path || "/";
  };
  // Two levels, key (route, or host and route) then method and status as one number: no key
  // string to build and hash per server request.
  const record = (into: Table, key: string, route: string, isTemplate: boolean, host: string, method: number, status: number, ms: number, weight: number): void => {
    let byCode = into.get(key);
    if (byCode === undefined) {
      if (into.size >= maxEntries) {
        key = route = host = "(other)";
        isTemplate = false;
        byCode = into.get(key);
      }
      if (byCode === undefined) {
        byCode = new Map();
        into.set(key, byCode);
      }
    }
    const code = method * 1000 + status;
    let entry = byCode.get(code);
    if (entry === undefined) {
      entry = newEntry(METHOD_NAMES[method] ?? "OTHER", route, host, status, isTemplate);
      byCode.set(code, entry);
    }
    addLatency(entry, ms, weight);
  };
  const onCallStart = (message: unknown): void => {
    const { request } = message as { request?: ClientRequest & Timed };
    if (request) request[kStart] = performance.now();
  };
  // A call ends once: at its response headers, or at its error when none came.
  const onCallEnd = (request: (ClientRequest & Timed) | undefined, status: number): void => {
    const start = request ? request[kStart] : undefined;
    if (start === undefined || !request) return;
    request[kStart] = undefined;
    const now = performance.now();
    if (now - lastRead > abandonedAfterMs) return remove();
    let host: string;
    if (typeof request.origin === "string") host = request.origin.replace(/^[a-z]+:\/\//i, "");
    else {
      const header = typeof request.getHeader === "function" ? request.getHeader("host") : undefined;
      host = typeof header === "string" ? header : typeof request.host === "string" ? request.host : "";
    }
    const route = normalize(typeof request.path === "string" ? request.path : "/");
    record(calls, host + " " + route, route, false, host.slice(0, 253), METHODS.get(request.method ?? "") ?? 0, status, now - start, 1);
  };
  const onCallResponse = (message: unknown): void => {
    const { request, response } = message as { request?: ClientRequest & Timed; response?: { statusCode?: unknown } };
    onCallEnd(request, response && typeof response.statusCode === "number" ? response.statusCode : 0);
  };
  const onCallError = (message: unknown): void => onCallEnd((message as { request?: ClientRequest & Timed }).request, 0);
  const onStart = (message: unknown): void => {
    const { response } = message as { response?: Timed };
    if (++sinceAdjust >= 1024) adjust();
    if (sampleEvery > 1 && ++tick % sampleEvery !== 0) return;
    if (response) response[kStart] = performance.now();
  };
  const onFinish = (message: unknown): void => {
    const { request, response } = message as { request?: ServerRequest; response?: ServerResponse & Timed };
    const start = response ? response[kStart] : undefined;
    if (start === undefined || !request || !response) return;
    const now = performance.now();
    if (now - lastRead > abandonedAfterMs) return remove();
    const ms = now - start;
    const method = METHODS.get(request.method ?? "") ?? 0;
    const status = typeof response.statusCode === "number" && response.statusCode >= 0 && response.statusCode < 1000 ? response.statusCode : 0;
    const template = request.route;
    let route: string;
    let isTemplate = false;
    if (template && typeof template.path === "string") {
      route = (typeof request.baseUrl === "string" ? request.baseUrl : "") + template.path;
      isTemplate = true;
    } else {
      route = normalize(typeof request.url === "string" ? request.url : "/");
    }
    record(table, route, route, isTemplate, "", method, status, ms, sampleEvery);
  };
  const CHANNELS: Array<[string, (message: unknown) => void]> = [
    ["http.server.request.start", onStart],
    ["http.server.response.finish", onFinish],
    ["http.client.request.start", onCallStart],
    ["http.client.response.finish", onCallResponse],
    ["http.client.request.error", onCallError],
    ["undici:request:create", onCallStart],
    ["undici:request:headers", onCallResponse],
    ["undici:request:error", onCallError],
  ];
  const remove = (): void => {
    for (const [name, handler] of CHANNELS) dc.unsubscribe(name, handler);
    delete slots[key];
  };
  for (const [name, handler] of CHANNELS) dc.subscribe(name, handler);
  const instrument = {
    read(): HttpInstrumentReading {
      lastRead = performance.now();
      // The window's largest N, then the rate for the next one.
      const sampledEvery = largestEvery;
      adjust();
      largestEvery = sampleEvery;
      const flat = (from: Table): EntryTuple[] => {
        const out: EntryTuple[] = [];
        for (const byCode of from.values()) for (const e of byCode.values()) out.push(toTuple(e));
        return out;
      };
      const reading: HttpInstrumentReading = [flat(table), flat(calls), sampledEvery];
      table = new Map();
      calls = new Map();
      return reading;
    },
    remove,
  };
  Object.defineProperty(slots, key, { value: instrument, configurable: true, enumerable: false, writable: true });
  return "installed";
}
