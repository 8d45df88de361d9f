import type { EndpointStat } from "@seismo/agent-proto";
import { mergeEndpointStats } from "@seismo/agent-proto";
import type { InspectorSession } from "../inspector/session.js";
import type { ProbeSettings } from "./in-target-aggregates.js";
import { IN_TARGET_AGGREGATES } from "./in-target-aggregates.js";
import { ProbeScripts } from "./probe-reads.js";

// v2: reads return server and client entries. A v1 probe an older daemon left behind is not
// reused (its reads have another shape); it removes itself once nobody reads it.
const KEY = 'Symbol.for("seismo.httpProbe.v2")';

/** Distinct routes (endpoints) and host-and-route pairs (calls) kept per window; past it, "(other)". */
export interface HttpProbeSettings extends ProbeSettings {
  /**
   * Served requests timed per second at most. Past it, one request in N is timed (N set at each
   * read from the rate just seen) and its figures count N times: the probe's cost stays near
   * this many times its +4.8 µs a request (bench/RESULTS.md): about 0.5 % of a core at 1,000.
   */
  maxTimedPerSecond: number;
}

export const DEFAULT_HTTP_PROBE_SETTINGS: HttpProbeSettings = { maxEntries: 300, abandonedAfterMs: 60_000, maxTimedPerSecond: 1_000 };

/**
 * The in-target half: subscribes to Node's own HTTP server channels
 * (`http.server.request.start`, `http.server.response.finish`), which every
 * framework built on node:http publishes through, and keeps per-window
 * aggregates: count, total and max latency and a log-scale histogram per
 * method, route and status. Nothing per request leaves the target; a read
 * returns the aggregates and starts the next window. Idempotent: a re-attach
 * reuses the installed probe.
 *
 * Outgoing calls are timed the same way, from request start to response
 * headers, through node:http's client channels (`http.client.request.start`,
 * `http.client.response.finish`, `http.client.request.error`) and undici's
 * (`undici:request:create`, `:headers`, `:error`), which Node's own fetch
 * publishes on: per method, destination host, route and status, status 0 for
 * a call that failed without a response.
 *
 * The route is the framework's template when it leaves one on the request
 * (Express sets `req.route.path`, under `req.baseUrl` when mounted), else the
 * path with its query dropped and id-like segments (numbers, UUIDs, long hex
 * or token-like strings) replaced by ":id": bounded cardinality, and no ids
 * or tokens leave the process.
 */
export function httpProbeInstall(settings: HttpProbeSettings): string {
  return `(() => {
  const key = ${KEY};
  if (globalThis[key]) return "present";
${IN_TARGET_AGGREGATES}
  const dc = load("node:diagnostics_channel");
  const { performance } = load("node:perf_hooks");
  // The start time rides on the response under a private symbol: a WeakMap costs more per request.
  const kStart = Symbol("seismo.requestStart");
  // Id-like path segments: numbers, UUIDs, long hex, token-like strings (16+ characters with a
  // digit), anything over 40 characters. One native regular-expression pass over the path
  // (case-sensitive classes: V8 runs /i expressions slower).
  const IDS = /\\/(?:\\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{12,}|(?=[^/]*\\d)[A-Za-z0-9_\\-.~%+=]{16,}|[^/]{41,})(?=\\/|$)/g;
  const METHOD_NAMES = ["OTHER", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"];
  const METHODS = new Map(METHOD_NAMES.map((name, i) => [name, i]));
  let table = new Map();
  let calls = new Map();
  let lastRead = performance.now();
  // Sampling of served requests under heavy traffic: one in sampleEvery is timed and counts for
  // sampleEvery (see HttpProbeSettings). The rate is re-read every 1,024 requests and at each read.
  let sampleEvery = 1;
  let largestEvery = 1;
  let tick = 0;
  let sinceAdjust = 0;
  let adjustedAt = performance.now();
  const adjust = () => {
    const now = performance.now();
    const rate = now > adjustedAt ? (sinceAdjust * 1000) / (now - adjustedAt) : 0;
    sinceAdjust = 0;
    adjustedAt = now;
    sampleEvery = rate > ${settings.maxTimedPerSecond} ? Math.ceil(rate / ${settings.maxTimedPerSecond}) : 1;
    if (sampleEvery > largestEvery) largestEvery = sampleEvery;
  };
  const normalize = (url) => {
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
  const record = (into, key, route, isTemplate, host, method, status, ms, weight) => {
    let byCode = into.get(key);
    if (byCode === undefined) {
      if (into.size >= ${settings.maxEntries}) {
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
      entry = newEntry(METHOD_NAMES[method], route, host, status, isTemplate);
      byCode.set(code, entry);
    }
    addLatency(entry, ms, weight);
  };
  const onCallStart = ({ request }) => {
    if (request) request[kStart] = performance.now();
  };
  // A call ends once: at its response headers, or at its error when none came.
  const onCallEnd = (request, status) => {
    const start = request ? request[kStart] : undefined;
    if (start === undefined) return;
    request[kStart] = undefined;
    const now = performance.now();
    if (now - lastRead > ${settings.abandonedAfterMs}) return remove();
    let host;
    if (typeof request.origin === "string") host = request.origin.replace(/^[a-z]+:\\/\\//i, "");
    else {
      const header = typeof request.getHeader === "function" ? request.getHeader("host") : undefined;
      host = typeof header === "string" ? header : typeof request.host === "string" ? request.host : "";
    }
    const route = normalize(typeof request.path === "string" ? request.path : "/");
    record(calls, host + " " + route, route, false, host.slice(0, 253), METHODS.get(request.method) ?? 0, status, now - start, 1);
  };
  const onCallResponse = ({ request, response }) => onCallEnd(request, response && typeof response.statusCode === "number" ? response.statusCode : 0);
  const onCallError = ({ request }) => onCallEnd(request, 0);
  const onStart = ({ response }) => {
    if (++sinceAdjust >= 1024) adjust();
    if (sampleEvery > 1 && ++tick % sampleEvery !== 0) return;
    if (response) response[kStart] = performance.now();
  };
  const onFinish = ({ request, response }) => {
    const start = response ? response[kStart] : undefined;
    if (start === undefined || !request) return;
    const now = performance.now();
    if (now - lastRead > ${settings.abandonedAfterMs}) return remove();
    const ms = now - start;
    const method = METHODS.get(request.method) ?? 0;
    const status = typeof response.statusCode === "number" && response.statusCode >= 0 && response.statusCode < 1000 ? response.statusCode : 0;
    const template = request.route;
    let route;
    let isTemplate = false;
    if (template && typeof template.path === "string") {
      route = (typeof request.baseUrl === "string" ? request.baseUrl : "") + template.path;
      isTemplate = true;
    } else {
      route = normalize(typeof request.url === "string" ? request.url : "/");
    }
    record(table, route, route, isTemplate, "", method, status, ms, sampleEvery);
  };
  const CHANNELS = [
    ["http.server.request.start", onStart],
    ["http.server.response.finish", onFinish],
    ["http.client.request.start", onCallStart],
    ["http.client.response.finish", onCallResponse],
    ["http.client.request.error", onCallError],
    ["undici:request:create", onCallStart],
    ["undici:request:headers", onCallResponse],
    ["undici:request:error", onCallError],
  ];
  const remove = () => {
    for (const [name, handler] of CHANNELS) dc.unsubscribe(name, handler);
    delete globalThis[key];
  };
  for (const [name, handler] of CHANNELS) dc.subscribe(name, handler);
  const probe = {
    read() {
      lastRead = performance.now();
      // The window's largest N, then the rate for the next one.
      const sampledEvery = largestEvery;
      adjust();
      largestEvery = sampleEvery;
      const flat = (from) => {
        const out = [];
        for (const byCode of from.values()) for (const e of byCode.values()) out.push(toTuple(e));
        return out;
      };
      const reading = [flat(table), flat(calls), sampledEvery];
      table = new Map();
      calls = new Map();
      return reading;
    },
    remove,
  };
  Object.defineProperty(globalThis, key, { value: probe, configurable: true, enumerable: false, writable: true });
  return "installed";
})()`;
}

export const HTTP_PROBE_READ = `(() => { const p = globalThis[${KEY}]; return p ? p.read() : null; })()`;
export const HTTP_PROBE_REMOVE = `(() => { const p = globalThis[${KEY}]; if (p) p.remove(); return Boolean(p); })()`;

/** One entry as the in-target read returns it (kept as a tuple: smaller over the wire). */
type RawEntry = [string, string, number, boolean, number, number, number, number[], number[], string];

/** What one read gives: requests the target served, and calls it made. */
export interface HttpReading {
  endpoints: EndpointStat[];
  outgoing: EndpointStat[];
}

/** Pure: the entries of one in-target read (HTTP or database probe); malformed ones are skipped, never thrown. */
export function parseProbeEntries(value: unknown): EndpointStat[] {
  const stats: EndpointStat[] = [];
  if (!Array.isArray(value)) return stats;
  for (const raw of value as unknown[]) {
    if (!Array.isArray(raw) || raw.length !== 10) continue;
    const [method, route, status, template, count, totalMs, maxMs, indexes, counts, host] = raw as RawEntry;
    if (typeof method !== "string" || typeof route !== "string" || typeof host !== "string" || !Number.isInteger(status) || !Number.isInteger(count) || count <= 0) continue;
    if (!Array.isArray(indexes) || !Array.isArray(counts) || indexes.length !== counts.length) continue;
    stats.push({
      method,
      route,
      status,
      count,
      totalMs: Number(totalMs) || 0,
      maxMs: Number(maxMs) || 0,
      bucketIndexes: indexes.map(Number),
      bucketCounts: counts.map(Number),
      routeTemplate: template === true,
      host,
    });
  }
  return stats;
}

/** Pure: the in-target read's value; anything malformed is skipped, never thrown. Undefined when there was no probe. */
export function parseHttpReading(value: unknown): HttpReading | undefined {
  if (!Array.isArray(value) || value.length !== 3) return undefined;
  const every = Number.isInteger(value[2]) && (value[2] as number) > 1 ? (value[2] as number) : 1;
  // Under heavy traffic one served request in N was timed, and counted N times in the target.
  const endpoints = parseProbeEntries(value[0]).map((e) => (every === 1 ? e : { ...e, sampledEvery: every }));
  return { endpoints, outgoing: parseProbeEntries(value[1]) };
}

/**
 * The daemon's half of the HTTP probe: installs it over the inspector, reads and resets its
 * aggregates once per window (late answers kept, see ProbeScripts), and removes it on detach.
 */
export class HttpProbe {
  private readonly scripts: ProbeScripts;

  constructor(
    session: InspectorSession,
    private readonly settings: HttpProbeSettings = DEFAULT_HTTP_PROBE_SETTINGS,
  ) {
    this.scripts = new ProbeScripts(session, "HTTP probe");
  }

  install(): Promise<void> {
    return this.scripts.install(httpProbeInstall(this.settings));
  }

  /** The requests served and calls made since the last read; undefined when the probe is gone or the target did not answer in time. */
  async read(timeoutMs = 2_000): Promise<HttpReading | undefined> {
    const readings = (await this.scripts.read(HTTP_PROBE_READ, timeoutMs))?.map(parseHttpReading).filter((r): r is HttpReading => r !== undefined);
    if (!readings || readings.length === 0) return undefined;
    if (readings.length === 1) return readings[0];
    return {
      endpoints: mergeEndpointStats(readings.flatMap((r) => r.endpoints)),
      outgoing: mergeEndpointStats(readings.flatMap((r) => r.outgoing)),
    };
  }

  remove(): Promise<void> {
    return this.scripts.remove(HTTP_PROBE_REMOVE);
  }
}
