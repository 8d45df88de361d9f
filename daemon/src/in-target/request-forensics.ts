import type * as AsyncHooks from "node:async_hooks";
import type { RawValue, ValueLimits, Values } from "./values.js";

/** What the request forensics are configured with (instruments/request-forensics.ts has the defaults and why). */
export interface RequestForensicsSettings {
  /** Where the database instrument finds them: globalThis[Symbol.for(key)]. */
  key: string;
  /** A request is slow past this many ms whatever its route... */
  slowFloorMs: number;
  /** ...and past its route's p99 of the last window that saw this many of its requests. */
  slowMinRequests: number;
  /** Queries and calls kept per request; past it, counted. */
  maxSteps: number;
  /** Per route, a kept request spends a token; a route holds this many... */
  routeBurst: number;
  /** ...and earns one back every this many ms. */
  routeRefillMs: number;
  /** Kept requests per minute over all routes, at most. */
  maxPerMinute: number;
  /** Kept requests waiting for the daemon's next read, at most (past it, counted). */
  maxQueued: number;
  /** Distinct routes with their own rate limit and threshold; past it, they share one. */
  maxRoutes: number;
  /** Request headers kept, lower case; any other is left out. */
  headers: readonly string[];
  limits: ValueLimits;
}

/** One query or outgoing call a request made, as the target keeps it (short keys: built on the app's time). */
export interface RawStep {
  /** "query" or "call" */
  k: "query" | "call";
  /** ms from the request's start to the step's */
  o: number;
  /** ms it took; -1 while it runs (still running when the response ended) */
  d: number;
  /** query: the statement digest; call: the method */
  s: string;
  /** query: the database ("postgresql://host:port/db"); call: host[:port] */
  h: string;
  /** call: the path, id-like segments as ":id" */
  p?: string;
  /** call: the response's status (0: none came) */
  st?: number;
  /** query: rows returned or affected, when the driver says */
  r?: number;
  /** the error's code (SQLSTATE, ER_…, ECONNREFUSED) */
  c?: string;
  /** the error's message */
  e?: string;
}

/** An error the framework handled (or the app passed on), as the target read it. */
export interface RawRequestError {
  /** class name, or the type of a thrown non-Error */
  type: string;
  message: string;
  /** frames, innermost first, "name (file:line:column)" as V8 prints them */
  stack: string[];
  code?: string;
  /** who handled it: "express", "fastify", "koa" */
  by: string;
}

/** A kept request: what happened to it, for the daemon to redact and publish. */
export interface RawRequest {
  /** a number, per install */
  n: number;
  /** unix ms of its start */
  at: number;
  ms: number;
  method: string;
  route: string;
  template: boolean;
  status: number;
  /** why it was kept: "error" (an error handled), "status" (5xx), "slow", "aborted" (its connection closed before its response ended) */
  why: string;
  /** the slow threshold it was held to, ms */
  over: number;
  params?: RawValue;
  query?: RawValue;
  headers?: RawValue;
  body?: RawValue;
  steps: RawStep[];
  /** steps past maxSteps, not kept */
  stepsLeft: number;
  error?: RawRequestError;
}

/** What a read hands the daemon: kept requests, oldest first, and what the limits left out. */
export interface RawRequests {
  kept: RawRequest[];
  /** requests that qualified and were not kept: over their route's rate, the minute's, or the queue */
  limited: number;
}

/** What follows a request through its async work: made at its start, read at its end. */
export interface RequestRecord {
  t0: number;
  steps: RawStep[] | undefined;
  stepsLeft: number;
  error: unknown;
  by: string;
}

/** What the database instrument and the HTTP client channels call, on the request being served (if any). */
export interface RequestSteps {
  /** A step of the request the current code runs for, begun now; undefined when there is none. */
  begin(kind: RawStep["k"], s: string, h: string): RawStep | undefined;
  /** The step's end: how long it took and how it went. */
  settle(step: RawStep, ms: number, rows: number | undefined, error: unknown): void;
}

/** What the HTTP instrument sees of a request at its end (route and template from its own reading). */
export interface RequestEnd {
  request: object;
  method: string;
  status: number;
  url: string;
  route: () => [string, boolean];
}

export interface RequestForensics extends RequestSteps {
  /** At the request's start: the record that follows it (entered into the async context). */
  start(): RequestRecord;
  /** An error the framework handled for the request: true for its first one (the one that counts). */
  noteError(record: RequestRecord | undefined, error: unknown, by: string): boolean;
  /** Fastify's parsed params and body, noted on its raw request by its handler channel. */
  noteParsed(request: object, params: unknown, body: unknown): void;
  /** The record of the request the current code runs for. */
  current(): RequestRecord | undefined;
  /** At the response's end, cheaply: false when the request ended well and under the slow floor (most do). */
  mayKeep(status: number, ms: number): boolean;
  /** At the response's end (or its connection's close before it: `aborted`): kept when it failed, was slow or was given up on, within the limits. */
  end(record: RequestRecord, end: RequestEnd, ms: number, aborted: boolean): void;
  /** After a window: each route's p99, from its aggregates, for the next one's slow threshold. */
  learn(route: string, requests: number, p99Ms: number): void;
  drain(): RawRequests;
  stop(): void;
}

/**
 * In the target: one request's story, kept only when it ends badly. A record enters the async
 * context at the request's start (an AsyncLocalStorage entered from the server's request channel:
 * +0.2 to +1.2 µs a request, bench/request-context.mjs); the database instrument and the client
 * channels add each query and call to it, begun where the app made it, so concurrent requests
 * never mix. At the end, a request that failed (a 5xx, with the error the framework handled when
 * there was one; its connection closed before its response ended) or was slow (over max(floor, its route's p99)) is serialized (parameters, query,
 * a few headers and the parsed body, names redacted before reading) and queued for the daemon's
 * next read, within a per-route token bucket and a per-minute cap. A request that ends well and
 * fast costs the record and nothing more.
 *
 * Called in the target as a library: its value makes the forensics, given the shared serializer
 * (values.ts) and the way to load built-ins.
 */
export function inTargetRequestForensics(settings: RequestForensicsSettings): (values: Values, load: <T>(name: string) => T) => RequestForensics {
  return (values, load) => {
    const { slowFloorMs, slowMinRequests, maxSteps, routeBurst, routeRefillMs, maxPerMinute, maxQueued, maxRoutes, limits } = settings;
    const wantedHeaders = settings.headers;
    const { AsyncLocalStorage } = load<typeof AsyncHooks>("node:async_hooks");
    const storage = new AsyncLocalStorage<RequestRecord>();
    const now = (): number => performance.now();
    const slowOver = new Map<string, number>();
    const buckets = new Map<string, { tokens: number; at: number }>();
    let minuteAt = now();
    let inMinute = 0;
    let queue: RawRequest[] = [];
    let limited = 0;
    let counter = 0;
    let active = true;

    const text = (value: unknown, max: number): string | undefined => {
      if (value === undefined || value === null) return undefined;
      const s = typeof value === "string" ? value : typeof value === "number" || typeof value === "bigint" ? String(value) : undefined;
      return s === undefined ? undefined : s.slice(0, max);
    };
    /** The error as data, read without calling the app's code (no getters: own data properties only). */
    const errorOf = (error: unknown, by: string): RawRequestError => {
      if (error === null || typeof error !== "object") return { type: typeof error, message: text(error, 1000) ?? "", stack: [], by };
      const frames = values.framesOf(text(values.ownValue(error, "stack"), 20_000) ?? "").slice(0, 20);
      const code = text(values.ownValue(error, "code"), 100);
      return { type: values.className(error), message: text(values.ownValue(error, "message"), 1000) ?? "", stack: frames, by, ...(code !== undefined ? { code } : {}) };
    };
    /** Within the route's bucket and the minute's cap: true when this one may be kept. */
    const allowed = (route: string): boolean => {
      const t = now();
      if (t - minuteAt >= 60_000) {
        minuteAt = t;
        inMinute = 0;
      }
      if (inMinute >= maxPerMinute || queue.length >= maxQueued) return false;
      const name = buckets.has(route) || buckets.size < maxRoutes ? route : "(other)";
      let bucket = buckets.get(name);
      if (bucket === undefined) buckets.set(name, (bucket = { tokens: routeBurst, at: t }));
      bucket.tokens = Math.min(routeBurst, bucket.tokens + (t - bucket.at) / routeRefillMs);
      bucket.at = t;
      if (bucket.tokens < 1) return false;
      bucket.tokens -= 1;
      inMinute++;
      return true;
    };
    const kParams = Symbol("seismo.requestParams");
    const kBody = Symbol("seismo.requestBody");
    /** What the frameworks left on the request: Express's params and body, Fastify's and Koa's (noted on the request by noteParsed). */
    const parsedOf = (request: Record<string | symbol, unknown>): { params: unknown; body: unknown } => ({
      params: request[kParams] ?? values.ownValue(request, "params"),
      body: request[kBody] ?? values.ownValue(request, "body"),
    });
    const queryOf = (url: string): Record<string, string | string[]> | undefined => {
      const mark = url.indexOf("?");
      if (mark < 0) return undefined;
      const query: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
      let n = 0;
      for (const [name, value] of new URLSearchParams(url.slice(mark + 1, mark + 4097))) {
        if (++n > limits.maxFields) break;
        const before = query[name];
        query[name] = before === undefined ? value : Array.isArray(before) ? [...before, value] : [before, value];
      }
      return query;
    };
    const headersOf = (request: { headers?: unknown }): Record<string, string> | undefined => {
      const headers = request.headers;
      if (!headers || typeof headers !== "object") return undefined;
      const kept: Record<string, string> = {};
      for (const name of wantedHeaders) {
        const value = (headers as Record<string, unknown>)[name];
        if (typeof value === "string") kept[name] = value;
      }
      return kept;
    };
    const keep = (record: RequestRecord, end: RequestEnd, [route, template]: [string, boolean], ms: number, why: string, over: number): void => {
      if (!allowed(route)) {
        limited++;
        return;
      }
      const st = values.state(limits);
      const request = end.request as Record<string | symbol, unknown> & { headers?: unknown };
      const parsed = parsedOf(request);
      const query = queryOf(end.url);
      const headers = headersOf(request);
      const kept: RawRequest = {
        n: ++counter,
        at: Date.now() - ms,
        ms,
        method: end.method,
        route,
        template,
        status: end.status,
        why,
        over,
        // Copies: a step still running goes on in its record, and stays "unfinished" here.
        steps: (record.steps ?? []).map((step) => ({ ...step })).sort((a, b) => a.o - b.o),
        stepsLeft: record.stepsLeft,
      };
      try {
        if (parsed.params && typeof parsed.params === "object" && Object.keys(parsed.params).length > 0) kept.params = values.serialize("params", parsed.params, 0, st);
        if (query) kept.query = values.serialize("query", query, 0, st);
        if (headers) kept.headers = values.serialize("headers", headers, 0, st);
        if (parsed.body !== undefined && parsed.body !== null && (typeof parsed.body === "object" || typeof parsed.body === "string")) kept.body = values.serialize("body", parsed.body, 0, st);
        if (record.error !== undefined) kept.error = errorOf(record.error, record.by);
      } catch {
        // A value that could not be read: the request is kept with what was.
      }
      queue.push(kept);
    };

    const forensics: RequestForensics = {
      start() {
        const record: RequestRecord = { t0: now(), steps: undefined, stepsLeft: 0, error: undefined, by: "" };
        // Every request, sampled or not: a request that entered nothing would run in the last one's record.
        storage.enterWith(record);
        return record;
      },
      current: () => (active ? storage.getStore() : undefined),
      noteError(record, error, by) {
        if (!record || record.error !== undefined || error === undefined) return false;
        record.error = error;
        record.by = by;
        return true;
      },
      begin(k, s, h) {
        const record = active ? storage.getStore() : undefined;
        if (record === undefined) return undefined;
        const steps = record.steps ?? (record.steps = []);
        if (steps.length >= maxSteps) {
          record.stepsLeft++;
          return undefined;
        }
        const step: RawStep = { k, o: now() - record.t0, d: -1, s, h };
        steps.push(step);
        return step;
      },
      settle(step, ms, rows, error) {
        step.d = ms;
        if (rows !== undefined) step.r = rows;
        if (error !== undefined && error !== null) {
          const e = errorOf(error, "");
          step.e = e.message;
          if (e.code !== undefined) step.c = e.code;
        }
      },
      // A 4xx the framework answered for an error (malformed JSON, a validation error, a 404 thrown)
      // is the client's mistake, not a failure: kept only when slow.
      mayKeep: (status, ms) => active && (status >= 500 || ms > slowFloorMs),
      end(record, end, ms, aborted) {
        if (!active) return;
        const route = end.route();
        let why = aborted ? "aborted" : end.status < 500 ? "" : record.error !== undefined ? "error" : "status";
        let over = slowFloorMs;
        if (why === "") {
          // Slow: over the floor, and over the route's own p99 when that is higher.
          over = Math.max(slowFloorMs, slowOver.get(route[0]) ?? 0);
          if (ms <= over) return;
          why = "slow";
        }
        keep(record, end, route, ms, why, over);
      },
      noteParsed(request, params, body) {
        (request as Record<symbol, unknown>)[kParams] = params;
        (request as Record<symbol, unknown>)[kBody] = body;
      },
      learn(route, requests, p99Ms) {
        if (requests < slowMinRequests) return;
        if (slowOver.size >= maxRoutes && !slowOver.has(route)) return;
        slowOver.set(route, p99Ms);
      },
      drain() {
        const out: RawRequests = { kept: queue, limited };
        queue = [];
        limited = 0;
        return out;
      },
      stop() {
        active = false;
        storage.disable();
        queue = [];
      },
    };
    return forensics;
  };
}
