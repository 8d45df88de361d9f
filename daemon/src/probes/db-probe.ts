import type { EndpointStat } from "@seismo/agent-proto";
import { mergeEndpointStats } from "@seismo/agent-proto";
import type { InspectorSession } from "../inspector/session.js";
import { parseProbeEntries } from "./http-probe.js";
import type { ProbeSettings } from "./in-target-aggregates.js";
import { IN_TARGET_AGGREGATES } from "./in-target-aggregates.js";
import { ProbeScripts } from "./probe-reads.js";

const KEY = 'Symbol.for("seismo.dbProbe.v1")';

/** Distinct database-and-statement pairs kept per window; past it, "(other)". */
export type DbProbeSettings = ProbeSettings;

export const DEFAULT_DB_PROBE_SETTINGS: DbProbeSettings = { maxEntries: 300, abandonedAfterMs: 60_000 };

/**
 * The in-target half of the database probe. Times every query, per database
 * and statement, from the call to its result:
 *
 * - mysql2 (3.20 and later) publishes on its own tracing channels
 *   (`mysql2:query`, `mysql2:execute`): subscribed to, as for HTTP.
 * - pg publishes nothing: its `Client.prototype.query` is wrapped, in every
 *   copy of pg the process has loaded (found in the module cache at install
 *   and again at each read, so a pg loaded later is found within a window).
 *   The wrapper passes everything through; a promise it returns settles as
 *   pg's own does, so an unhandled rejection stays unhandled. On removal the
 *   original is put back, or, when something else wrapped it since, the
 *   wrapper becomes a plain pass-through.
 *
 * The statement is a digest: comments dropped, string and number literals
 * replaced by `?`, lists of them collapsed, whitespace squeezed, cut to 500
 * characters. No value leaves the process; placeholders ($1, ?) are kept.
 * Each entry's "status" is 0 for a query that succeeded and 1 for one that
 * failed; its "method" is the statement's first keyword (SELECT, INSERT...).
 */
export function dbProbeInstall(settings: DbProbeSettings): string {
  return `(() => {
  const key = ${KEY};
  if (globalThis[key]) return "present";
${IN_TARGET_AGGREGATES}
  const dc = load("node:diagnostics_channel");
  const { performance } = load("node:perf_hooks");
  const Module = load("node:module");
  const kStart = Symbol("seismo.queryStart");
  const kPatched = Symbol.for("seismo.dbProbe.patched");
  const kHost = Symbol("seismo.dbHost");
  let table = new Map();
  let lastRead = performance.now();
  let active = true;
  const digests = new Map();
  // Comments, then string, hex and number literals (not digits inside names or $1 placeholders).
  const COMMENTS = /\\/\\*[\\s\\S]*?\\*\\/|--[^\\n]*/g;
  const LITERALS = /[xXbBnNeE]?'(?:[^'\\\\]|\\\\.|'')*'|\\b0x[0-9a-fA-F]+\\b|(?<![\\w$])-?\\d+(?:\\.\\d+)?(?:[eE][+-]?\\d+)?\\b/g;
  const SPACES = /\\s+/g;
  const LISTS = /\\(\\s*\\?(?:\\s*,\\s*\\?)+\\s*\\)/g;
  const ROWS = /(\\(\\?\\))(?:\\s*,\\s*\\(\\?\\))+/g;
  const digest = (sql) => {
    if (typeof sql !== "string") return "(unknown)";
    const cached = digests.get(sql);
    if (cached !== undefined) return cached;
    // The costly part (mysql2 inlines values, so most of its statements are new strings): each
    // clean-up only when it can apply.
    let d = sql.length > 4096 ? sql.slice(0, 4096) : sql;
    if (d.indexOf("--") >= 0 || d.indexOf("/*") >= 0) d = d.replace(COMMENTS, " ");
    // A plain replacement string, no callback: V8 keeps the replace in native code.
    d = d.replace(LITERALS, "?").replace(SPACES, " ").trim();
    if (d.indexOf("?,") >= 0 || d.indexOf("? ,") >= 0) d = d.replace(LISTS, "(?)").replace(ROWS, "$1");
    d = d.slice(0, 500);
    // Parameterized statements repeat verbatim: remembered, bounded, short ones only.
    if (sql.length <= 1024) {
      if (digests.size >= 2000) digests.clear();
      digests.set(sql, d);
    }
    return d;
  };
  // Two levels, database then statement: no key string to build per query.
  let entries = 0;
  const record = (host, sql, ok, ms) => {
    if (performance.now() - lastRead > ${settings.abandonedAfterMs}) return remove();
    let route = digest(sql);
    let where = host;
    let byRoute = table.get(where);
    let byStatus = byRoute === undefined ? undefined : byRoute.get(route);
    if (byStatus === undefined) {
      if (entries >= ${settings.maxEntries}) {
        route = where = "(other)";
        byRoute = table.get(where);
        byStatus = byRoute === undefined ? undefined : byRoute.get(route);
      }
      if (byRoute === undefined) {
        byRoute = new Map();
        table.set(where, byRoute);
      }
      if (byStatus === undefined) {
        byStatus = [undefined, undefined];
        byRoute.set(route, byStatus);
        entries++;
      }
    }
    const status = ok ? 0 : 1;
    let entry = byStatus[status];
    if (entry === undefined) {
      const space = route.indexOf(" ");
      const method = (space > 0 ? route.slice(0, space) : route).toUpperCase().slice(0, 16);
      entry = byStatus[status] = newEntry(method, route, where, status, false);
    }
    addLatency(entry, ms, 1);
  };

  // "mysql://host:port/db", built once per server and database.
  const mysqlHosts = new Map();
  const mysqlHost = (address, port, database) => {
    let byPort = mysqlHosts.get(address);
    if (byPort === undefined) mysqlHosts.set(address, (byPort = new Map()));
    let byDatabase = byPort.get(port);
    if (byDatabase === undefined) byPort.set(port, (byDatabase = new Map()));
    let host = byDatabase.get(database);
    if (host === undefined) byDatabase.set(database, (host = "mysql://" + address + (port ? ":" + port : "") + "/" + (database || "")));
    return host;
  };
  // mysql2: its tracing channels; the result (or error) arrives at asyncStart.
  const mysql = {
    start(ctx) {
      ctx[kStart] = performance.now();
    },
    asyncStart(ctx) {
      const start = ctx[kStart];
      if (start === undefined) return;
      ctx[kStart] = undefined;
      record(mysqlHost(ctx.serverAddress, ctx.serverPort, ctx.database), ctx.query, !ctx.error, performance.now() - start);
    },
  };
  const traced = dc.tracingChannel ? ["mysql2:query", "mysql2:execute"].map((name) => dc.tracingChannel(name)) : [];
  for (const channel of traced) channel.subscribe(mysql);

  // pg: Client.prototype.query wrapped in every copy found in the module cache.
  const patched = [];
  const patchPg = () => {
    const cache = Module._cache;
    if (!cache) return;
    for (const file of Object.keys(cache)) {
      if (!file.endsWith("/pg/lib/client.js")) continue;
      const Client = cache[file] && cache[file].exports;
      const proto = typeof Client === "function" ? Client.prototype : undefined;
      if (!proto || typeof proto.query !== "function" || proto.query[kPatched]) continue;
      const original = proto.query;
      const wrapped = function (config) {
        const text = typeof config === "string" ? config : config && typeof config.text === "string" && typeof config.submit !== "function" ? config.text : undefined;
        if (!active || text === undefined) return original.apply(this, arguments);
        const start = performance.now();
        // Built once per client.
        const host = this[kHost] || (this[kHost] = "postgresql://" + (this.host || "") + (this.port ? ":" + this.port : "") + "/" + (this.database || ""));
        const done = (ok) => record(host, text, ok, performance.now() - start);
        const args = Array.prototype.slice.call(arguments);
        const last = args.length - 1;
        if (last > 0 && typeof args[last] === "function") {
          const callback = args[last];
          args[last] = function (error) {
            done(!error);
            return callback.apply(this, arguments);
          };
          return original.apply(this, args);
        }
        const result = original.apply(this, args);
        if (!result || typeof result.then !== "function") return result;
        return result.then(
          (value) => {
            done(true);
            return value;
          },
          (error) => {
            done(false);
            throw error;
          },
        );
      };
      wrapped[kPatched] = true;
      proto.query = wrapped;
      patched.push([proto, original, wrapped]);
    }
  };
  patchPg();

  const remove = () => {
    active = false;
    for (const channel of traced) channel.unsubscribe(mysql);
    for (const [proto, original, wrapped] of patched) if (proto.query === wrapped) proto.query = original;
    delete globalThis[key];
  };
  const probe = {
    read() {
      lastRead = performance.now();
      patchPg();
      const out = [];
      for (const byRoute of table.values()) for (const byStatus of byRoute.values()) for (const e of byStatus) if (e !== undefined) out.push(toTuple(e));
      table = new Map();
      entries = 0;
      return out;
    },
    digest,
    remove,
  };
  Object.defineProperty(globalThis, key, { value: probe, configurable: true, enumerable: false, writable: true });
  return "installed";
})()`;
}

export const DB_PROBE_READ = `(() => { const p = globalThis[${KEY}]; return p ? p.read() : null; })()`;
export const DB_PROBE_REMOVE = `(() => { const p = globalThis[${KEY}]; if (p) p.remove(); return Boolean(p); })()`;

/**
 * The daemon's half of the database probe: install, a read per window (late answers kept, see
 * ProbeScripts), removal on detach.
 */
export class DbProbe {
  private readonly scripts: ProbeScripts;

  constructor(
    session: InspectorSession,
    private readonly settings: DbProbeSettings = DEFAULT_DB_PROBE_SETTINGS,
  ) {
    this.scripts = new ProbeScripts(session, "database probe");
  }

  install(): Promise<void> {
    return this.scripts.install(dbProbeInstall(this.settings));
  }

  /** The queries since the last read; undefined when the probe is gone or the target did not answer in time. */
  async read(timeoutMs = 2_000): Promise<EndpointStat[] | undefined> {
    const values = (await this.scripts.read(DB_PROBE_READ, timeoutMs))?.filter(Array.isArray);
    if (!values || values.length === 0) return undefined;
    return mergeEndpointStats(values.flatMap(parseProbeEntries));
  }

  remove(): Promise<void> {
    return this.scripts.remove(DB_PROBE_REMOVE);
  }
}
