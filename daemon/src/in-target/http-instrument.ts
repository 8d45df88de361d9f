import type * as DiagnosticsChannel from "node:diagnostics_channel";
import type * as PerfHooks from "node:perf_hooks";
import type { AggregateEntry, Aggregates, AnyMethod, EntryTuple, Wrapping } from "./aggregates.js";
import type { RawRequests, RawStep, RequestForensics, RequestRecord } from "./request-forensics.js";
import type { Values } from "./values.js";

export interface HttpInstrumentTargetSettings {
  key: string;
  /** Marks the Koa createContext and the Hono Context the instrument wrapped, so that a second install does not wrap them again. */
  patchedKey: string;
  /** Distinct routes (and host-and-route pairs) kept per window; past it, "(other)". */
  maxEntries: number;
  /** The instrument removes itself at the first event after nobody has read it for this long. */
  abandonedAfterMs: number;
  /** Served requests timed per second at most; past it, one in N counts N times. */
  maxTimedPerSecond: number;
  /** Where the request forensics' steps are published for the database instrument; "" to keep no request. */
  requestsKey: string;
  /** Where the capture code is (keys.ts): told of each request's handled error, for error probes armed at its frames. */
  captureKey: string;
}

/** What the instrument reads of a server request, a response and a client request: only these, defensively. */
interface ServerRequest {
  method?: string;
  url?: string;
  baseUrl?: unknown;
  route?: { path?: unknown };
  /** Express's application, on the request's prototype once Express has seen it. */
  app?: unknown;
}
/** Where the instrument keeps, on the request, the route template taken while the route matched. */
type RouteSlots = Record<symbol, unknown>;
/** What the instrument reads of a Koa context: the route @koa/router matched (a string, or a RegExp route). */
interface KoaContext {
  _matchedRoute?: unknown;
}
/** What the instrument reads of a Hono context: the routes the request matched, and the index of the last handler that ran. */
interface HonoContext {
  req?: { matchedRoutes?: unknown; routeIndex?: unknown };
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

/** [server entries, client entries, the window's largest N of "one in N timed", the requests kept]. */
export type HttpInstrumentReading = [EntryTuple[], EntryTuple[], number, RawRequests];

/**
 * In the target: subscribes to Node's own HTTP server channels (`http.server.request.start`,
 * `http.server.response.finish`), which every framework built on node:http publishes through,
 * and keeps per-window aggregates per method, route and status; outgoing calls the same way,
 * from request start to response headers, through node:http's client channels and undici's
 * (which Node's fetch publishes on), status 0 for a call that failed without a response.
 * Nothing per request leaves the target; a read returns the aggregates and starts the next
 * window. Idempotent: a re-attach reuses the installed instrument. See instruments/http-instrument.ts.
 */
export function installHttpInstrument(
  settings: HttpInstrumentTargetSettings,
  lib: Aggregates,
  values: Values,
  makeForensics: (values: Values, load: Aggregates["load"]) => RequestForensics,
): "installed" | "present" {
  const slots = globalThis as unknown as Record<symbol, unknown>;
  const key = Symbol.for(settings.key);
  if (slots[key]) return "present";
  const { maxEntries, abandonedAfterMs, maxTimedPerSecond } = settings;
  const { newEntry, addLatency, toTuple } = lib;
  // Failed and slow requests' stories (request-forensics.ts); the database instrument adds its
  // queries to them through the steps published under requestsKey.
  const forensics = settings.requestsKey === "" ? undefined : makeForensics(values, lib.load);
  const requestsKey = Symbol.for(settings.requestsKey);
  if (forensics) Object.defineProperty(slots, requestsKey, { value: { begin: forensics.begin, settle: forensics.settle }, configurable: true, enumerable: false, writable: true });
  const kRecord = Symbol("seismo.requestRecord");
  const kStep = Symbol("seismo.callStep");
  const dc = lib.load<typeof DiagnosticsChannel>("node:diagnostics_channel");
  const { performance } = lib.load<typeof PerfHooks>("node:perf_hooks");
  // The start time rides on the response under a private symbol: a WeakMap costs more per request.
  const kStart = Symbol("seismo.requestStart");
  // Id-like path segments: numbers, UUIDs, long hex, token-like strings (16+ characters with a
  // digit), anything over 40 characters. One native regular-expression pass over the path
  // (case-sensitive classes: V8 runs /i expressions slower).
  const IDS = /\/(?:\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-fA-F]{12,}|(?=[^/]*\d)[A-Za-z0-9_\-.~%+=]{16,}|[^/]{41,})(?=\/|$)/g;
  // The route as the app declares it, taken while it matches: Express (4 and 5, every router
  // level) assigns req.route when a route dispatches, and req.baseUrl is then the full mount
  // path; by the time the response finishes, a sub-router that handed back to its parent (json-server
  // does, and so does an async handler's error going to the app's error handler) has put baseUrl
  // back to "" and the route read then would lose its prefix. An accessor on the request sees
  // the assignment; Fastify 5 says its route on its own channel.
  // A router's root route under a mount path is the mount path: "/comments", not "/comments/".
  const joinRoute = (base: unknown, path: string): string => (typeof base === "string" && base !== "" ? (path === "/" ? base : base + path) : path);
  const kRoute = Symbol("seismo.route");
  const kRouteValue = Symbol("seismo.routeValue");
  // The route's params the same way: Express assigns req.params right after req.route, and a
  // sub-router that hands back puts its parent's back. Watched only once a route matched, and
  // only while requests are kept.
  const kParamsValue = Symbol("seismo.paramsValue");
  const kParamsNext = Symbol("seismo.paramsNext");
  const paramsAccessor: PropertyDescriptor = {
    configurable: true,
    enumerable: true,
    get(this: RouteSlots) {
      return this[kParamsValue];
    },
    set(this: RouteSlots, value: unknown) {
      this[kParamsValue] = value;
      if (this[kParamsNext] === true) {
        this[kParamsNext] = false;
        if (forensics) forensics.noteParsed(this, value, undefined);
      }
    },
  };
  const watchParams = (request: RouteSlots): void => {
    request[kParamsNext] = true;
    const own = Object.getOwnPropertyDescriptor(request, "params");
    if (own && !("value" in own)) return;
    try {
      Object.defineProperty(request, "params", paramsAccessor);
      request[kParamsValue] = own?.value;
    } catch {
      // A request that cannot take the property: its params are read at the end, as they are then.
    }
  };
  const routeAccessor: PropertyDescriptor = {
    configurable: true,
    enumerable: true,
    get(this: RouteSlots) {
      return this[kRouteValue];
    },
    set(this: RouteSlots & ServerRequest, value: unknown) {
      // (Route.dispatch assigns the route it runs again: only a new route's params count.)
      const changed = value !== this[kRouteValue];
      this[kRouteValue] = value;
      const path = value && typeof value === "object" ? (value as { path?: unknown }).path : undefined;
      if (typeof path === "string") {
        this[kRoute] = joinRoute(this.baseUrl, path);
        if (forensics && changed) watchParams(this);
      }
    },
  };
  const watchRoute = (request: object): void => {
    if (Object.prototype.hasOwnProperty.call(request, "route")) return;
    try {
      Object.defineProperty(request, "route", routeAccessor);
    } catch {
      // A request that cannot take the property: its route is read at the finish, as before.
    }
  };
  // A router's root route under a prefix, as Koa and Hono give it ("/api/products/"): the prefix.
  const withoutTrailingSlash = (route: string): string => (route.length > 1 && route.endsWith("/") ? route.slice(0, -1) : route);
  // Koa keeps the route on its own context, which the request does not point back to: every
  // copy of Koa the process loaded (found in the module cache at install and at each read) has
  // its createContext wrapped to note the context on the request; @koa/router's template
  // (prefixes and nested routers included) is read from it at the finish, as the last layer
  // that ran left it. A Koa request no route matched is "(unmatched)".
  const kKoaContext = Symbol("seismo.koaContext");
  const kPatched = Symbol.for(settings.patchedKey);
  let active = true;
  const patchedKoa: Wrapping[] = [];
  // With a router loaded, a request it matched nowhere is "(unmatched)"; with none (an app that
  // routes by hand), the path as for plain node:http.
  let koaRouter = false;
  const patchKoa = (): void => {
    koaRouter ||= lib.loadedModules().some((file) => file.includes("/@koa/router/") || file.includes("/koa-router/"));
    const made = lib.wrapLoaded("/koa/lib/application.js", "createContext", kPatched, (original) =>
      function (this: unknown, req: unknown) {
        // eslint-disable-next-line prefer-rest-params -- pass the caller's arguments through untouched
        const context = original.apply(this, arguments as unknown as unknown[]);
        if (active && req && typeof req === "object") (req as RouteSlots)[kKoaContext] = context;
        return context;
      } as AnyMethod,
    );
    patchedKoa.push(...made);
  };
  patchKoa();
  /** The template @koa/router matched ("/" routes under a prefix as the prefix), "(unmatched)", or undefined when no router saw the request. */
  const koaRoute = (request: RouteSlots): string | undefined => {
    const context = request[kKoaContext] as KoaContext | undefined;
    if (!context || typeof context !== "object") return undefined;
    const matched = context._matchedRoute;
    const route = typeof matched === "string" ? matched : matched instanceof RegExp ? String(matched) : koaRouter ? "(unmatched)" : undefined;
    if (route === undefined) return undefined;
    return withoutTrailingSlash(route);
  };
  // Hono (CommonJS, under @hono/node-server) routes inside app.fetch, on a web Request: nothing of
  // its routing reaches Node's request but the env the server hands to fetch, { incoming,
  // outgoing }. Its dispatch makes each request's Context from the context module's export, read
  // at every call, so that export, replaced by a subclass, notes the context on the request (given
  // back on detach); the route is read from it at the finish. An app that imports Hono as an ES
  // module gets exports nothing can replace; its Context class is reached once the daemon has seen
  // Hono's ES files run (honoModule, below).
  const kHonoContext = Symbol("seismo.honoContext");
  const patchedHono: Wrapping[] = [];
  const patchHono = (): void => {
    const made = lib.wrapLoaded(
      "/hono/dist/cjs/context.js",
      "Context",
      kPatched,
      (original) => {
        const Context = original as unknown as new (...args: unknown[]) => object;
        return class extends Context {
          constructor(...args: unknown[]) {
            super(...args);
            const incoming = (args[1] as { env?: { incoming?: unknown } } | undefined)?.env?.incoming;
            if (active && incoming && typeof incoming === "object") (incoming as RouteSlots)[kHonoContext] = this;
          }
        } as unknown as AnyMethod;
      },
      "exports",
    );
    patchedHono.push(...made);
  };
  patchHono();
  /**
   * Hono imported as an ES module: its context module, loaded again through require (Node 20.19
   * and 22.12 on: the module the app imported, not a copy), gives its Context class. Dispatch
   * reads its `req` accessor for every handler it runs (`c.req.routeIndex = i`) and its `res`
   * accessor when no route answered (the not-found handler's response): wrapped, they note the
   * context on the request as the subclass does. They are put back on detach. Returns what
   * happened, for the daemon's log.
   */
  const patchedHonoAccessors: Array<{ proto: object; name: string; descriptor: PropertyDescriptor; wrapped: PropertyDescriptor }> = [];
  const honoModule = (file: string): string => {
    let exported: unknown;
    try {
      exported = lib.load<{ createRequire(path: string): (id: string) => unknown }>("node:module").createRequire(file)(file);
    } catch (error) {
      // Not instanceof Error: the error may come from another realm.
      const message = (error as { message?: unknown } | undefined)?.message;
      return `not loaded: ${typeof message === "string" ? (message.split("\n")[0] ?? "") : String(error)}`;
    }
    const Context = (exported as { Context?: unknown } | undefined)?.Context;
    const proto = typeof Context === "function" ? (Context.prototype as object | undefined) : undefined;
    if (!proto) return "no Context class";
    type Noted = { env?: { incoming?: unknown } } | undefined;
    const note = (context: Noted): void => {
      const incoming = context?.env?.incoming;
      if (active && incoming && typeof incoming === "object") (incoming as RouteSlots)[kHonoContext] = context;
    };
    let found = 0;
    let wrappedNow = 0;
    for (const name of ["req", "res"]) {
      const descriptor = Object.getOwnPropertyDescriptor(proto, name);
      const { get, set } = descriptor ?? {};
      if (!descriptor || typeof get !== "function") continue;
      found++;
      if ((get as unknown as Record<symbol, unknown>)[kPatched]) continue;
      wrappedNow++;
      const wrapped: PropertyDescriptor = {
        ...descriptor,
        get(this: Noted): unknown {
          note(this);
          return get.call(this);
        },
      };
      if (typeof set === "function") {
        wrapped.set = function (this: Noted, value: unknown): void {
          note(this);
          set.call(this, value);
        };
      }
      (wrapped.get as unknown as Record<symbol, unknown>)[kPatched] = true;
      Object.defineProperty(proto, name, wrapped);
      patchedHonoAccessors.push({ proto, name, descriptor, wrapped });
    }
    if (found === 0) return "no Context with req and res accessors";
    return wrappedNow > 0 ? "patched" : "present";
  };
  /**
   * The template of the last route Hono ran for the request that a method declared (a
   * middleware that ran after it, `use("/db/*")`, is not the route), "(unmatched)" when only
   * middleware ran; undefined when Hono did not see the request.
   */
  const honoRoute = (request: RouteSlots): string | undefined => {
    const context = request[kHonoContext] as HonoContext | undefined;
    if (!context || typeof context !== "object") return undefined;
    let matched: unknown;
    let ran: unknown;
    try {
      matched = context.req?.matchedRoutes;
      ran = context.req?.routeIndex;
    } catch {
      return undefined;
    }
    if (!Array.isArray(matched) || typeof ran !== "number") return undefined;
    let route = "(unmatched)";
    for (let i = Math.min(ran, matched.length - 1); i >= 0; i--) {
      const { method, path } = (matched[i] ?? {}) as { method?: unknown; path?: unknown };
      if (typeof path !== "string" || (method === "ALL" && path.includes("*"))) continue;
      route = path;
      break;
    }
    return withoutTrailingSlash(route);
  };
  const onFastifyHandler = (message: unknown): void => {
    const { request, route } = message as { request?: { raw?: unknown; params?: unknown; body?: unknown }; route?: { url?: unknown } };
    const raw = request?.raw;
    if (!raw || typeof raw !== "object") return;
    if (typeof route?.url === "string") (raw as RouteSlots)[kRoute] = route.url;
    if (forensics) forensics.noteParsed(raw, request.params, request.body);
  };
  // Errors the framework handled, for the request's story: Express 4's Layer.handle_error and
  // Express 5's (the router package's) Layer.handleError run for each layer an error passes, Koa's
  // ctx.onerror once, Fastify says it on its handler channel. The first error of a request counts.
  // Only on the error path: nothing runs for a request that goes well.
  const recordOn = (response: unknown): RequestRecord | undefined => (response && typeof response === "object" ? (response as Record<symbol, RequestRecord | undefined>)[kRecord] : undefined);
  const patchedErrors: Wrapping[] = [];
  const captureKey = Symbol.for(settings.captureKey);
  /** The request's first error: kept with its story, and handed to the capture code (an error probe may be armed on its frames). */
  const noteError = (record: RequestRecord | undefined, error: unknown, by: string): void => {
    if (!active || !forensics || !forensics.noteError(record, error, by)) return;
    const capture = slots[captureKey] as { handled?: (error: unknown) => void } | undefined;
    if (capture && typeof capture.handled === "function") capture.handled(error);
  };
  const noteErrorOf = (by: string, responseOf: (self: unknown, args: IArguments) => unknown) => (original: AnyMethod) =>
    function (this: unknown, error: unknown) {
      // eslint-disable-next-line prefer-rest-params -- read, and passed through untouched
      const args = arguments;
      if (active && forensics) noteError(recordOn(responseOf(this, args)) ?? forensics.current(), error, by);
      return original.apply(this, args as unknown as unknown[]);
    } as AnyMethod;
  // An error no error handler took reaches the router's own callback (the app's final handler
  // answers 500): Router.handle(req, res, done) gets a done that notes it. One small function per
  // router a request passes through; nothing else runs unless an error comes.
  const noteUnhandled = (original: AnyMethod): AnyMethod =>
    function (this: unknown, req: unknown, res: unknown, done: unknown) {
      // eslint-disable-next-line prefer-rest-params -- passed through untouched
      if (!active || !forensics || typeof done !== "function") return original.apply(this, arguments as unknown as unknown[]);
      return original.call(this, req, res, function (this: unknown, error: unknown) {
        if (error && error !== "route" && error !== "router" && forensics) noteError(recordOn(res) ?? forensics.current(), error, "express");
        // eslint-disable-next-line prefer-rest-params -- as above
        return (done as AnyMethod).apply(this, arguments as unknown as unknown[]);
      });
    } as AnyMethod;
  const patchErrors = (): void => {
    if (!forensics) return;
    // (Error, req, res, next): Express 4 (any copy, "express" or an alias), and the router Express 5 uses.
    const express = noteErrorOf("express", (_self, args) => args[2]);
    patchedErrors.push(...lib.wrapLoaded("/lib/router/layer.js", "handle_error", kPatched, express));
    patchedErrors.push(...lib.wrapLoaded("/router/lib/layer.js", "handleError", kPatched, express));
    // The routers' own handle: the router package's Router.prototype (Express 5), Express 4's on its exported function.
    patchedErrors.push(...lib.wrapLoaded("/router/index.js", "handle", kPatched, noteUnhandled));
    patchedErrors.push(...lib.wrapLoaded("/lib/router/index.js", "handle", kPatched, noteUnhandled, "exports"));
    patchedErrors.push(...lib.wrapLoaded("/koa/lib/context.js", "onerror", kPatched, noteErrorOf("koa", (self) => (self as { res?: unknown } | undefined)?.res), "exports"));
  };
  patchErrors();
  const onFastifyError = (message: unknown): void => {
    const { error, reply } = message as { error?: unknown; reply?: { raw?: unknown } };
    if (forensics) noteError(recordOn(reply?.raw) ?? forensics.current(), error, "fastify");
  };
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
    // A rate needs a second or 1,024 requests behind it: read over a few ms after a burst (a
    // window rotated at a spike, keep-alive clients firing together), 300 requests a second
    // looked like thousands and were sampled one in two (issue 17).
    if (now - adjustedAt < 1_000 && sinceAdjust < 1_024) return;
    const rate = (sinceAdjust * 1000) / (now - adjustedAt);
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
    if (!request) return;
    request[kStart] = performance.now();
    // A step of the request being served, if any: begun here, where the app made the call.
    if (forensics) (request as unknown as Record<symbol, RawStep | undefined>)[kStep] = forensics.begin("call", typeof request.method === "string" ? request.method : "GET", "");
  };
  // A call ends once: at its response headers, or at its error when none came.
  const onCallEnd = (request: (ClientRequest & Timed) | undefined, status: number, error?: unknown): void => {
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
    const step = (request as unknown as Record<symbol, RawStep | undefined>)[kStep];
    if (step && forensics) {
      step.h = host.slice(0, 253);
      step.p = route;
      step.st = status;
      forensics.settle(step, now - start, undefined, error);
    }
  };
  const onCallResponse = (message: unknown): void => {
    const { request, response } = message as { request?: ClientRequest & Timed; response?: { statusCode?: unknown } };
    onCallEnd(request, response && typeof response.statusCode === "number" ? response.statusCode : 0);
  };
  const onCallError = (message: unknown): void => {
    const { request, error } = message as { request?: ClientRequest & Timed; error?: unknown };
    onCallEnd(request, 0, error);
  };
  const onStart = (message: unknown): void => {
    const { request, response } = message as { request?: object; response?: Timed };
    if (!response) return;
    const story = forensics ? forensics.start() : undefined;
    if (story) (response as unknown as Record<symbol, RequestRecord>)[kRecord] = story;
    if (++sinceAdjust >= 1024) adjust();
    if (sampleEvery > 1 && ++tick % sampleEvery !== 0) return;
    response[kStart] = story ? story.t0 : performance.now();
    if (request) watchRoute(request);
  };
  // The route of the request being finished, read into these two (no tuple made per request).
  let routeName = "";
  let routeIsTemplate = false;
  /** Reads the request's route, and whether it is the framework's template, as its response ends. */
  const readRoute = (request: ServerRequest): void => {
    const declared = (request as RouteSlots)[kRoute];
    routeIsTemplate = true;
    if (typeof declared === "string") {
      routeName = declared;
      return;
    }
    const routed =
      (patchedKoa.length > 0 ? koaRoute(request as RouteSlots) : undefined) ?? (patchedHono.length + patchedHonoAccessors.length > 0 ? honoRoute(request as RouteSlots) : undefined);
    if (routed !== undefined) {
      routeName = routed;
      routeIsTemplate = routed !== "(unmatched)";
      return;
    }
    const template = request.route;
    if (template && typeof template.path === "string") {
      routeName = joinRoute(request.baseUrl, template.path);
      return;
    }
    routeIsTemplate = false;
    // Express saw it and no route matched (a 404, a static file, a middleware's answer):
    // said so, rather than a path that looks like a route.
    if (typeof request.baseUrl === "string" || typeof request.app === "function") routeName = "(unmatched)";
    else routeName = normalize(typeof request.url === "string" ? request.url : "/");
  };
  const onFinish = (message: unknown): void => {
    const { request, response } = message as { request?: ServerRequest; response?: ServerResponse & Timed };
    if (!request || !response) return;
    const start = response[kStart];
    const story = forensics ? (response as unknown as Record<symbol, RequestRecord | undefined>)[kRecord] : undefined;
    if (start === undefined && story === undefined) return;
    const now = performance.now();
    if (now - lastRead > abandonedAfterMs) return remove();
    const method = METHODS.get(request.method ?? "") ?? 0;
    const status = typeof response.statusCode === "number" && response.statusCode >= 0 && response.statusCode < 1000 ? response.statusCode : 0;
    if (start !== undefined) {
      readRoute(request);
      record(table, routeName, routeName, routeIsTemplate, "", method, status, now - start, sampleEvery);
    }
    // Most requests end here: well and fast, nothing to keep, nothing made for them.
    if (story === undefined || !forensics || !forensics.mayKeep(status, now - story.t0)) return;
    endStory(story, request, status, now, false);
  };
  /** A request that may be kept, at its response's end or its connection's close: handed to the forensics with what they read of it. */
  const endStory = (story: RequestRecord, request: ServerRequest, status: number, now: number, aborted: boolean): void => {
    if (!forensics) return;
    // Koa keeps its params and parsed body on its context (@koa/router, a body parser), not the request.
    const koa = (request as RouteSlots)[kKoaContext];
    if (koa && typeof koa === "object") {
      const koaRequest = values.ownValue(koa, "request");
      forensics.noteParsed(request, values.ownValue(koa, "params"), koaRequest && typeof koaRequest === "object" ? values.ownValue(koaRequest, "body") : undefined);
    }
    const url = (request as { originalUrl?: unknown }).originalUrl;
    const route = (): [string, boolean] => {
      readRoute(request);
      return [routeName, routeIsTemplate];
    };
    const method = METHOD_NAMES[METHODS.get(request.method ?? "") ?? 0] ?? "OTHER";
    forensics.end(story, { request, method, status, url: typeof url === "string" ? url : typeof request.url === "string" ? request.url : "/", route }, now - story.t0, aborted);
  };
  // A request the client gave up on (a timeout, a reset) never finishes: its connection closes
  // while its response is the socket's current one. One listener per connection, not per
  // request: a keep-alive connection carries many.
  interface ServerSocket {
    _httpMessage?: (ServerResponse & { req?: ServerRequest; writableFinished?: boolean; headersSent?: boolean }) | null;
    once?: (event: string, listener: () => void) => void;
  }
  const onSocketClose = function (this: ServerSocket): void {
    const response = this._httpMessage;
    if (!active || !forensics || !response || response.writableFinished) return;
    const story = (response as unknown as Record<symbol, RequestRecord | undefined>)[kRecord];
    const request = response.req;
    if (!story || !request) return;
    endStory(story, request, response.headersSent && typeof response.statusCode === "number" ? response.statusCode : 0, performance.now(), true);
  };
  const onConnection = (message: unknown): void => {
    const socket = (message as { socket?: ServerSocket }).socket;
    if (forensics && socket && typeof socket.once === "function") socket.once("close", onSocketClose);
  };
  const CHANNELS: Array<[string, (message: unknown) => void]> = [
    ["net.server.socket", onConnection],
    ["http.server.request.start", onStart],
    ["http.server.response.finish", onFinish],
    ["tracing:fastify.request.handler:start", onFastifyHandler],
    ["tracing:fastify.request.handler:error", onFastifyError],
    ["http.client.request.start", onCallStart],
    ["http.client.response.finish", onCallResponse],
    ["http.client.request.error", onCallError],
    ["undici:request:create", onCallStart],
    ["undici:request:headers", onCallResponse],
    ["undici:request:error", onCallError],
  ];
  const remove = (): void => {
    active = false;
    for (const [name, handler] of CHANNELS) dc.unsubscribe(name, handler);
    // Koa's own createContext and Hono's Context back, or, when something else wrapped them since, ours left as pass-throughs.
    lib.unwrap(patchedKoa);
    lib.unwrap(patchedHono);
    lib.unwrap(patchedErrors);
    if (forensics) {
      forensics.stop();
      delete slots[requestsKey];
    }
    for (const { proto, name, descriptor, wrapped } of patchedHonoAccessors.splice(0)) {
      // Something that wrapped the accessor since keeps its own, and ours passes through.
      if (Object.getOwnPropertyDescriptor(proto, name)?.get === wrapped.get) Object.defineProperty(proto, name, descriptor);
    }
    delete slots[key];
  };
  for (const [name, handler] of CHANNELS) dc.subscribe(name, handler);
  const instrument = {
    read(): HttpInstrumentReading {
      lastRead = performance.now();
      // A Koa, Hono or Express loaded since.
      patchKoa();
      patchHono();
      patchErrors();
      // The window's largest N, then the rate for the next one.
      const sampledEvery = largestEvery;
      adjust();
      largestEvery = sampleEvery;
      const flat = (from: Table): EntryTuple[] => {
        const out: EntryTuple[] = [];
        for (const byCode of from.values()) for (const e of byCode.values()) out.push(toTuple(e));
        return out;
      };
      // Each route's p99 in this window: what its next requests are slow against.
      // (Its most frequent status under 500: the requests that went as they usually do.)
      if (forensics) {
        for (const [route, byCode] of table) {
          let usual: AggregateEntry | undefined;
          for (const e of byCode.values()) if (e.status < 500 && (usual === undefined || e.count > usual.count)) usual = e;
          if (usual) forensics.learn(route, usual.count, lib.quantileMs(usual, 0.99));
        }
      }
      const reading: HttpInstrumentReading = [flat(table), flat(calls), sampledEvery, forensics ? forensics.drain() : { kept: [], limited: 0 }];
      table = new Map();
      calls = new Map();
      return reading;
    },
    remove,
    honoModule,
  };
  Object.defineProperty(slots, key, { value: instrument, configurable: true, enumerable: false, writable: true });
  return "installed";
}

/**
 * In the target: hands the installed HTTP instrument the context module of a Hono loaded as an ES
 * module (the daemon saw its files run); what happened, or why nothing could.
 */
export function routeHonoModule(settings: { key: string; file: string }): string {
  const installed = (globalThis as unknown as Record<symbol, { honoModule?: (file: string) => string } | undefined>)[Symbol.for(settings.key)];
  return typeof installed?.honoModule === "function" ? installed.honoModule(settings.file) : "no HTTP instrument";
}
