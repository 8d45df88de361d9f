import type * as DiagnosticsChannel from "node:diagnostics_channel";
import type * as PerfHooks from "node:perf_hooks";
import type { AggregateEntry, Aggregates, AnyMethod, EntryTuple, Wrapping } from "./aggregates.js";
import type { RawStep, RequestSteps } from "./request-forensics.js";

export interface DbInstrumentTargetSettings {
  key: string;
  /** Marks a Client.prototype.query this instrument wrapped (shared by every install, so never wrapped twice). */
  patchedKey: string;
  /** Distinct database-and-statement pairs kept per window; past it, "(other)". */
  maxEntries: number;
  abandonedAfterMs: number;
  /** Where the HTTP instrument publishes the steps of the request being served (request-forensics.ts). */
  requestsKey: string;
}

/** What the instrument reads of mysql2's tracing context and of a pg client. */
interface MysqlContext {
  query?: unknown;
  error?: unknown;
  result?: unknown;
  serverAddress?: unknown;
  serverPort?: unknown;
  database?: unknown;
}
interface PgClient {
  host?: unknown;
  port?: unknown;
  database?: unknown;
}

/**
 * In the target: times every query, per database and statement digest, from the call to its
 * result. mysql2 (3.20 and later) publishes on its own tracing channels (`mysql2:query`,
 * `mysql2:execute`): subscribed to. pg publishes nothing: its `Client.prototype.query` is wrapped
 * in every copy of pg the process has loaded (found in the module cache at install and again at
 * each read). The wrapper passes everything through; a promise it returns settles as pg's own
 * does. On removal the original is put back, or, when something else wrapped it since, the
 * wrapper becomes a plain pass-through. See instruments/db-instrument.ts.
 */
export function installDbInstrument(settings: DbInstrumentTargetSettings, lib: Aggregates): "installed" | "present" {
  const slots = globalThis as unknown as Record<symbol, unknown>;
  const key = Symbol.for(settings.key);
  if (slots[key]) return "present";
  const { maxEntries, abandonedAfterMs } = settings;
  const { newEntry, addLatency, toTuple } = lib;
  const dc = lib.load<typeof DiagnosticsChannel>("node:diagnostics_channel");
  const { performance } = lib.load<typeof PerfHooks>("node:perf_hooks");
  const kStart = Symbol("seismo.queryStart");
  const kPatched = Symbol.for(settings.patchedKey);
  const kHost = Symbol("seismo.dbHost");
  type Table = Map<string, Map<string, [AggregateEntry | undefined, AggregateEntry | undefined]>>;
  let table: Table = new Map();
  let lastRead = performance.now();
  let active = true;
  const digests = new Map<string, string>();
  // Comments, then string, hex and number literals (not digits inside names or $1 placeholders).
  const COMMENTS = /\/\*[\s\S]*?\*\/|--[^\n]*/g;
  const LITERALS = /[xXbBnNeE]?'(?:[^'\\]|\\.|'')*'|\b0x[0-9a-fA-F]+\b|(?<![\w$])-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\b/g;
  const SPACES = /\s+/g;
  const LISTS = /\(\s*\?(?:\s*,\s*\?)+\s*\)/g;
  const ROWS = /(\(\?\))(?:\s*,\s*\(\?\))+/g;
  const digest = (sql: unknown): string => {
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
  const requestsKey = Symbol.for(settings.requestsKey);
  const kStep = Symbol("seismo.queryStep");
  /** A step of the request being served (if any), begun where the app made the query: concurrent requests never mix. */
  // Its statement's digest at once (a query still running when the response ends is named too);
  // only for a query some request made.
  const beginStep = (host: string, sql: unknown): RawStep | undefined => {
    const step = (slots[requestsKey] as RequestSteps | undefined)?.begin("query", "", host);
    if (step) step.s = digest(sql);
    return step;
  };
  /** Rows returned or affected, as the drivers say: pg's rowCount, mysql2's rows or its result header. */
  const rowsOf = (result: unknown): number | undefined => {
    if (Array.isArray(result)) return result.length;
    if (!result || typeof result !== "object") return undefined;
    const { rowCount, affectedRows } = result as { rowCount?: unknown; affectedRows?: unknown };
    return typeof rowCount === "number" ? rowCount : typeof affectedRows === "number" ? affectedRows : undefined;
  };
  const settleStep = (step: RawStep | undefined, statement: string, ms: number, result: unknown, error: unknown): void => {
    if (step === undefined) return;
    step.s = statement;
    (slots[requestsKey] as RequestSteps | undefined)?.settle(step, ms, error ? undefined : rowsOf(result), error || undefined);
  };
  /** The statement's digest, once timed. */
  const record = (host: string, sql: unknown, ok: boolean, ms: number): string => {
    if (performance.now() - lastRead > abandonedAfterMs) {
      remove();
      return digest(sql);
    }
    let route = digest(sql);
    let where = host;
    let byRoute = table.get(where);
    let byStatus = byRoute === undefined ? undefined : byRoute.get(route);
    if (byStatus === undefined) {
      if (entries >= maxEntries) {
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
    return route;
  };

  // "mysql://host:port/db", built once per server and database.
  const mysqlHosts = new Map<unknown, Map<unknown, Map<unknown, string>>>();
  const mysqlHost = (address: unknown, port: unknown, database: unknown): string => {
    let byPort = mysqlHosts.get(address);
    if (byPort === undefined) mysqlHosts.set(address, (byPort = new Map()));
    let byDatabase = byPort.get(port);
    if (byDatabase === undefined) byPort.set(port, (byDatabase = new Map()));
    let host = byDatabase.get(database);
    if (host === undefined) byDatabase.set(database, (host = "mysql://" + String(address) + (port ? ":" + String(port) : "") + "/" + String(database || "")));
    return host;
  };
  // mysql2: its tracing channels; the result (or error) arrives at asyncStart.
  const mysql = {
    start(message: unknown): void {
      const ctx = message as MysqlContext & Record<symbol, unknown>;
      ctx[kStart] = performance.now();
      ctx[kStep] = beginStep("", ctx.query);
    },
    asyncStart(message: unknown): void {
      const ctx = message as MysqlContext & Record<symbol, unknown>;
      const start = ctx[kStart] as number | undefined;
      if (start === undefined) return;
      ctx[kStart] = undefined;
      const ms = performance.now() - start;
      const host = mysqlHost(ctx.serverAddress, ctx.serverPort, ctx.database);
      const step = ctx[kStep] as RawStep | undefined;
      if (step) step.h = host;
      settleStep(step, record(host, ctx.query, !ctx.error, ms), ms, ctx.result, ctx.error);
    },
  };
  // Node takes a partial set of subscribers; its types ask for all five.
  const subscribers = mysql as unknown as DiagnosticsChannel.TracingChannelSubscribers<object>;
  const traced = dc.tracingChannel ? ["mysql2:query", "mysql2:execute"].map((name) => dc.tracingChannel(name)) : [];
  for (const channel of traced) channel.subscribe(subscribers);

  // pg: Client.prototype.query wrapped in every copy found in the module cache.
  const patched: Wrapping[] = [];
  const patchPg = (): void => {
    const made = lib.wrapLoaded("/pg/lib/client.js", "query", kPatched, (original) =>
      function (this: unknown, config: unknown) {
        const client = this as PgClient & Record<symbol, string | undefined>;
        const text = typeof config === "string" ? config : config && typeof (config as { text?: unknown }).text === "string" && typeof (config as { submit?: unknown }).submit !== "function" ? (config as { text: string }).text : undefined;
        // eslint-disable-next-line prefer-rest-params -- pass the caller's arguments through untouched
        if (!active || text === undefined) return original.apply(this, arguments as unknown as unknown[]);
        const start = performance.now();
        // Built once per client.
        const host = client[kHost] || (client[kHost] = "postgresql://" + String(client.host || "") + (client.port ? ":" + String(client.port) : "") + "/" + String(client.database || ""));
        const step = beginStep(host, text);
        const done = (result: unknown, error: unknown): void => {
          const ms = performance.now() - start;
          settleStep(step, record(host, text, !error, ms), ms, result, error);
        };
        // eslint-disable-next-line prefer-rest-params -- as above
        const args = Array.prototype.slice.call(arguments) as unknown[];
        const last = args.length - 1;
        const callback = args[last];
        if (last > 0 && typeof callback === "function") {
          args[last] = function (this: unknown, error: unknown, result: unknown) {
            done(result, error);
            // eslint-disable-next-line prefer-rest-params -- as above
            return (callback as (...a: unknown[]) => unknown).apply(this, arguments as unknown as unknown[]);
          };
          return original.apply(this, args);
        }
        const result = original.apply(this, args) as { then?: unknown } | undefined;
        if (!result || typeof result.then !== "function") return result;
        return (result as Promise<unknown>).then(
          (value) => {
            done(value, undefined);
            return value;
          },
          (error: unknown) => {
            done(undefined, error ?? new Error("rejected"));
            throw error;
          },
        );
      } as AnyMethod,
    );
    patched.push(...made);
  };
  patchPg();

  const remove = (): void => {
    active = false;
    for (const channel of traced) channel.unsubscribe(subscribers);
    lib.unwrap(patched);
    delete slots[key];
  };
  const instrument = {
    read(): EntryTuple[] {
      lastRead = performance.now();
      patchPg();
      const out: EntryTuple[] = [];
      for (const byRoute of table.values()) for (const byStatus of byRoute.values()) for (const e of byStatus) if (e !== undefined) out.push(toTuple(e));
      table = new Map();
      entries = 0;
      return out;
    },
    digest,
    remove,
  };
  Object.defineProperty(slots, key, { value: instrument, configurable: true, enumerable: false, writable: true });
  return "installed";
}
