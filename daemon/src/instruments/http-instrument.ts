import { fileURLToPath } from "node:url";
import type { EndpointStat } from "@seismo/agent-proto";
import { describeError, mergeEndpointStats } from "@seismo/agent-proto";
import type { InspectorSession } from "../inspector/session.js";
import type { EntryTuple } from "../in-target/aggregates.js";
import { installHttpInstrument, routeHonoModule } from "../in-target/http-instrument.js";
import { readInstalled, removeInstalled } from "../in-target/installed.js";
import { IN_TARGET_KEYS } from "../in-target/keys.js";
import { inTargetExpression } from "../in-target/script.js";
import type { InstrumentSettings } from "./in-target-aggregates.js";
import { AGGREGATES } from "./in-target-aggregates.js";
import { InstrumentScripts } from "./instrument-scripts.js";
import type { RequestForensicsSettings } from "../in-target/request-forensics.js";
import { VALUES } from "../capture/in-target-values.js";
import { DEFAULT_REQUEST_FORENSICS, requestForensicsLibrary } from "./request-forensics.js";
import type { KeptRequests } from "./request-exemplar.js";
import { parseKeptRequests } from "./request-exemplar.js";


/** Distinct routes (endpoints) and host-and-route pairs (calls) kept per window; past it, "(other)". */
export interface HttpInstrumentSettings extends InstrumentSettings {
  /**
   * Served requests timed per second at most. Past it, one request in N is timed (N set at each
   * read from the rate just seen) and its figures count N times: the instrument's cost stays near
   * this many times its +4.8 µs a request (bench/RESULTS.md): about 0.5 % of a core at 1,000.
   */
  maxTimedPerSecond: number;
  /** What is kept of failed and slow requests; undefined keeps none. */
  requests: RequestForensicsSettings | undefined;
}

export const DEFAULT_HTTP_INSTRUMENT_SETTINGS: HttpInstrumentSettings = { maxEntries: 300, abandonedAfterMs: 60_000, maxTimedPerSecond: 1_000, requests: DEFAULT_REQUEST_FORENSICS };

/**
 * The expression that installs the HTTP instrument in the target (in-target/http-instrument.ts): Node's
 * HTTP server and client channels, and undici's, aggregated per window.
 *
 * The route is the framework's template when it leaves one on the request (Express sets
 * `req.route.path`, under `req.baseUrl` when mounted), else the path with its query dropped and
 * id-like segments (numbers, UUIDs, long hex or token-like strings) replaced by ":id": bounded
 * cardinality, and no ids or tokens leave the process.
 */
export function httpInstrumentInstall(settings: HttpInstrumentSettings): string {
  const { maxEntries, abandonedAfterMs, maxTimedPerSecond, requests } = settings;
  const requestsKey = requests ? requests.key : "";
  return inTargetExpression(
    installHttpInstrument,
    { key: IN_TARGET_KEYS.httpInstrument, patchedKey: IN_TARGET_KEYS.httpInstrumentPatched, maxEntries, abandonedAfterMs, maxTimedPerSecond, requestsKey, captureKey: IN_TARGET_KEYS.capture },
    [AGGREGATES, VALUES, requestForensicsLibrary(requests)],
  );
}

export const HTTP_INSTRUMENT_READ = inTargetExpression(readInstalled, IN_TARGET_KEYS.httpInstrument);
export const HTTP_INSTRUMENT_REMOVE = inTargetExpression(removeInstalled, IN_TARGET_KEYS.httpInstrument);

/** A file of Hono's ES-module build (dist/, not dist/cjs/), by the URL V8 reports for it. */
const HONO_ESM_FILE = /^(file:\/\/.*\/node_modules\/hono\/dist)\/(?!cjs\/)[\w./-]+\.js$/;

/**
 * Pure: the context modules (file paths) of the Hono ES-module builds among script URLs a
 * profile holds: where their Context class is, once their code has run.
 */
export function honoContextModules(scriptUrls: Iterable<string>): string[] {
  const files = new Set<string>();
  for (const url of scriptUrls) {
    const dist = HONO_ESM_FILE.exec(url)?.[1];
    if (dist) files.add(fileURLToPath(`${dist}/context.js`));
  }
  return [...files];
}

/** What one read gives: requests the target served, calls it made, and the failed or slow requests it kept. */
export interface HttpReading {
  endpoints: EndpointStat[];
  outgoing: EndpointStat[];
  requests: KeptRequests;
}

/** Pure: the entries of one in-target read (HTTP or database instrument); malformed ones are skipped, never thrown. */
export function parseInstrumentEntries(value: unknown): EndpointStat[] {
  const stats: EndpointStat[] = [];
  if (!Array.isArray(value)) return stats;
  for (const raw of value as unknown[]) {
    if (!Array.isArray(raw) || raw.length !== 10) continue;
    const [method, route, status, template, count, totalMs, maxMs, indexes, counts, host] = raw as EntryTuple;
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

/** Pure: the in-target read's value; anything malformed is skipped, never thrown. Undefined when there was no instrument. */
export function parseHttpReading(value: unknown): HttpReading | undefined {
  if (!Array.isArray(value) || value.length < 3) return undefined;
  const every = Number.isInteger(value[2]) && (value[2] as number) > 1 ? (value[2] as number) : 1;
  // Under heavy traffic one served request in N was timed, and counted N times in the target.
  const endpoints = parseInstrumentEntries(value[0]).map((e) => (every === 1 ? e : { ...e, sampledEvery: every }));
  return { endpoints, outgoing: parseInstrumentEntries(value[1]), requests: parseKeptRequests(value[3]) };
}

/**
 * The daemon's half of the HTTP instrument: installs it over the inspector, reads and resets its
 * aggregates once per window (late answers kept, see InstrumentScripts), and removes it on detach.
 */
export class HttpInstrument {
  private readonly scripts: InstrumentScripts;
  private readonly honoModulesTried = new Set<string>();

  constructor(
    session: InspectorSession,
    private readonly settings: HttpInstrumentSettings = DEFAULT_HTTP_INSTRUMENT_SETTINGS,
  ) {
    this.scripts = new InstrumentScripts(session, "HTTP instrument");
  }

  install(): Promise<void> {
    return this.scripts.install(httpInstrumentInstall(this.settings));
  }

  /** The requests served and calls made since the last read; undefined when the instrument is gone or the target did not answer in time. */
  async read(timeoutMs = 2_000): Promise<HttpReading | undefined> {
    const readings = (await this.scripts.read(HTTP_INSTRUMENT_READ, timeoutMs))?.map(parseHttpReading).filter((r): r is HttpReading => r !== undefined);
    if (!readings || readings.length === 0) return undefined;
    if (readings.length === 1) return readings[0];
    return {
      endpoints: mergeEndpointStats(readings.flatMap((r) => r.endpoints)),
      outgoing: mergeEndpointStats(readings.flatMap((r) => r.outgoing)),
      requests: { kept: readings.flatMap((r) => r.requests.kept), limited: readings.reduce((n, r) => n + r.requests.limited, 0) },
    };
  }

  /**
   * Hono imported as an ES module routes where nothing can be replaced; once its files show in a
   * profile (`scriptUrls`, the scripts a window's samples ran in), its Context class is reached
   * from its context module. Tried once per module; what happened, for the log.
   */
  async noticeScripts(scriptUrls: Iterable<string>): Promise<string[]> {
    const said: string[] = [];
    for (const file of honoContextModules(scriptUrls)) {
      if (this.honoModulesTried.has(file)) continue;
      this.honoModulesTried.add(file);
      const outcome = String(
        await this.scripts.evaluate(inTargetExpression(routeHonoModule, { key: IN_TARGET_KEYS.httpInstrument, file })).catch((error: unknown) => `not answered: ${describeError(error)}`),
      );
      if (outcome === "patched" || outcome === "present") said.push(`routes of Hono (an ES module, ${file}) read from its Context`);
      else {
        // A Node without require() of ES modules refuses to load it (ERR_REQUIRE_ESM).
        const hint = /ERR_REQUIRE_ESM|ES Module/i.test(outcome) ? " (reading them needs require() of ES modules: Node 20.19 and 22.12 on)" : "";
        said.push(`routes of Hono loaded as an ES module (${file}) stay normalized paths: ${outcome}${hint}`);
      }
    }
    return said;
  }

  remove(): Promise<void> {
    return this.scripts.remove(HTTP_INSTRUMENT_REMOVE);
  }
}
