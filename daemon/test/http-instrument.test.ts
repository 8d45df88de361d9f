import { createServer, request as httpRequest } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";
import { runInThisContext } from "node:vm";
import { latencyQuantile } from "@seismo/agent-proto";
import { afterEach, describe, expect, it } from "vitest";
import { routeHonoModule } from "../src/in-target/http-instrument.js";
import { IN_TARGET_KEYS } from "../src/in-target/keys.js";
import { inTargetExpression } from "../src/in-target/script.js";
import { DEFAULT_HTTP_INSTRUMENT_SETTINGS, honoContextModules, HttpInstrument, httpInstrumentInstall, parseHttpReading, HTTP_INSTRUMENT_READ, HTTP_INSTRUMENT_REMOVE } from "../src/instruments/http-instrument.js";
import { BlockedTarget } from "./blocked-target.js";

/** What the test uses of a Hono app. */
interface HonoContextLike {
  text(body: string): Response;
}
interface HonoApp {
  use(path: string, handler: (c: HonoContextLike, next: () => Promise<void>) => unknown): void;
  get(path: string, handler: (c: HonoContextLike, next: () => Promise<void>) => unknown): void;
  route(path: string, app: HonoApp): void;
  fetch: (request: Request, ...rest: unknown[]) => Response | Promise<Response>;
}

/** The in-target script runs here, in this process: real node:http, real diagnostics_channel. */
const inThisProcess = (expression: string): unknown => runInThisContext(expression);

function get(port: number, path: string, method = "GET"): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path, method, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

afterEach(() => {
  inThisProcess(HTTP_INSTRUMENT_REMOVE);
});

/** Two requests of /api/items/:id and one no route matched, then the read: each under its template, the miss as (unmatched). */
async function expectItemsRouted(port: number): Promise<void> {
  for (const id of [7, 8]) expect(await get(port, `/api/items/${id}`)).toBe(200);
  expect(await get(port, "/elsewhere/9")).toBe(404);
  const stats = parseHttpReading(inThisProcess(HTTP_INSTRUMENT_READ))?.endpoints ?? [];
  expect(stats.map((e) => [e.route, e.status, e.count, e.routeTemplate]).sort()).toEqual([
    ["(unmatched)", 404, 1, false],
    ["/api/items/:id", 200, 2, true],
  ]);
}

describe("the HTTP instrument's in-target script", () => {
  it("takes a Koa route from @koa/router, prefix included, and gives Koa its own createContext back on removal", async () => {
    // Real Koa and @koa/router, loaded through this process's module cache as an app loads them.
    const load = createRequire(import.meta.url);
    const Koa = load("koa") as new () => { use(fn: unknown): void; callback(): Parameters<typeof createServer>[1] };
    const Router = load("@koa/router") as new (options?: { prefix?: string }) => { get(path: string, fn: (ctx: { body: unknown }) => void): void; routes(): unknown };
    const ownCreateContext = (Koa.prototype as { createContext: unknown }).createContext;
    const app = new Koa();
    const items = new Router({ prefix: "/api/items" });
    items.get("/:id", (ctx) => {
      ctx.body = "item";
    });
    app.use(items.routes());
    const server = createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    try {
      expect(inThisProcess(httpInstrumentInstall(DEFAULT_HTTP_INSTRUMENT_SETTINGS))).toBe("installed");
      expect((Koa.prototype as { createContext: unknown }).createContext).not.toBe(ownCreateContext);
      await expectItemsRouted(port);
      inThisProcess(HTTP_INSTRUMENT_REMOVE);
      expect((Koa.prototype as { createContext: unknown }).createContext).toBe(ownCreateContext);
      expect(await get(port, "/api/items/10")).toBe(200);
    } finally {
      server.close();
    }
  });

  it("takes a Hono route (CommonJS, on @hono/node-server), sub-apps included and a later middleware not, and gives Hono its Context back on removal", async () => {
    const load = createRequire(import.meta.url);
    const { Hono } = load("hono") as { Hono: new () => HonoApp };
    // The module Hono makes each request's Context from (not in its package exports: found as the instrument finds it).
    const contextModule = Object.entries(load.cache).find(([file]) => file.endsWith("/hono/dist/cjs/context.js"))?.[1]?.exports as { Context: unknown };
    const ownContext = contextModule.Context;
    const { getRequestListener } = load("@hono/node-server") as { getRequestListener(fetch: HonoApp["fetch"]): Parameters<typeof createServer>[1] };
    const app = new Hono();
    app.use("*", async (_c, next) => next());
    const items = new Hono();
    items.get("/:id", (c) => c.text("item"));
    app.route("/api/items", items);
    app.get("/posts/:id", async (_c, next) => next());
    app.use("/posts/*", (c) => c.text("rendered by a middleware"));
    const server = createServer(getRequestListener(app.fetch));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    try {
      expect(inThisProcess(httpInstrumentInstall(DEFAULT_HTTP_INSTRUMENT_SETTINGS))).toBe("installed");
      expect(contextModule.Context).not.toBe(ownContext);
      for (const id of [7, 8]) expect(await get(port, `/api/items/${id}`)).toBe(200);
      expect(await get(port, "/posts/abc")).toBe(200);
      expect(await get(port, "/elsewhere/9")).toBe(404);
      const stats = parseHttpReading(inThisProcess(HTTP_INSTRUMENT_READ))?.endpoints ?? [];
      expect(stats.map((e) => [e.route, e.status, e.count, e.routeTemplate]).sort()).toEqual([
        ["(unmatched)", 404, 1, false],
        ["/api/items/:id", 200, 2, true],
        ["/posts/:id", 200, 1, true],
      ]);
      inThisProcess(HTTP_INSTRUMENT_REMOVE);
      expect(contextModule.Context).toBe(ownContext);
      expect(await get(port, "/api/items/10")).toBe(200);
    } finally {
      server.close();
    }
  });

  it("takes a Hono route when Hono is an ES module, once the daemon names its context module, and puts Context's accessors back on removal", async () => {
    // As an app written in ESM gets them: Hono's dist/ build, not dist/cjs/.
    const { Hono } = (await import("hono")) as unknown as { Hono: new () => HonoApp };
    const { getRequestListener } = (await import("@hono/node-server")) as unknown as { getRequestListener(fetch: HonoApp["fetch"]): Parameters<typeof createServer>[1] };
    const honoBase = import.meta.resolve("hono").replace(/\/index\.js$/, "/hono-base.js");
    const [contextFile] = honoContextModules([honoBase, "node:internal/url", "file:///app/node_modules/hono/dist/cjs/hono-base.js"]);
    expect(contextFile).toMatch(/\/node_modules\/hono\/dist\/context\.js$/);
    const { Context } = (await import(pathToFileURL(contextFile as string).href)) as { Context: { prototype: object } };
    const own = (name: string) => Object.getOwnPropertyDescriptor(Context.prototype, name)?.get;
    const [ownReq, ownRes] = [own("req"), own("res")];
    const app = new Hono();
    app.use("*", async (_c, next) => next());
    const items = new Hono();
    items.get("/:id", (c) => c.text("item"));
    app.route("/api/items", items);
    const server = createServer(getRequestListener(app.fetch));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    try {
      expect(inThisProcess(httpInstrumentInstall(DEFAULT_HTTP_INSTRUMENT_SETTINGS))).toBe("installed");
      // Before the daemon has seen Hono's files run: normalized paths.
      expect(await get(port, "/api/items/6")).toBe(200);
      expect(parseHttpReading(inThisProcess(HTTP_INSTRUMENT_READ))?.endpoints.map((e) => [e.route, e.routeTemplate])).toEqual([["/api/items/:id", false]]);
      const route = inTargetExpression(routeHonoModule, { key: IN_TARGET_KEYS.httpInstrument, file: contextFile as string });
      expect(inThisProcess(route)).toBe("patched");
      expect(inThisProcess(route)).toBe("present");
      expect(own("req")).not.toBe(ownReq);
      // (Its 404: only the middleware matched, and the not-found handler's response is set through Context's res.)
      await expectItemsRouted(port);
      inThisProcess(HTTP_INSTRUMENT_REMOVE);
      expect([own("req"), own("res")]).toEqual([ownReq, ownRes]);
      expect(await get(port, "/api/items/10")).toBe(200);
    } finally {
      server.close();
    }
  });

  it("aggregates requests per method, route and status with latency, ids and queries left out, framework templates kept", async () => {
    const server = createServer((req, res) => {
      // What Express leaves on a routed request: its template, under the router's mount path.
      if (req.url?.startsWith("/api/carts/")) Object.assign(req, { baseUrl: "/api", route: { path: "/carts/:cartId" } });
      const slow = req.url?.startsWith("/slow");
      setTimeout(() => {
        res.statusCode = req.url?.includes("missing") ? 404 : 200;
        res.end("ok");
      }, slow ? 40 : 0);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    try {
      expect(inThisProcess(httpInstrumentInstall(DEFAULT_HTTP_INSTRUMENT_SETTINGS))).toBe("installed");
      expect(inThisProcess(httpInstrumentInstall(DEFAULT_HTTP_INSTRUMENT_SETTINGS))).toBe("present");
      for (const id of [1, 22, 333]) await get(port, `/orders/${id}?token=secret-${id}`);
      await get(port, "/users/550e8400-e29b-41d4-a716-446655440000/profile");
      await get(port, "/files/eyJhbGciOiJIUzI1NiJ9abc123xyz");
      await get(port, "/orders/missing");
      // Consecutive ids, and a deep path cut to 11 segments.
      await get(port, "/a/1/2/b/c/d/e/f/g/h/i/j/k/l");
      await get(port, "/api/carts/42", "POST");
      for (let i = 0; i < 3; i++) await get(port, "/slow");
      const stats = parseHttpReading(inThisProcess(HTTP_INSTRUMENT_READ))?.endpoints ?? [];
      const byKey = new Map(stats.map((s) => [`${s.method} ${s.status} ${s.route}`, s]));
      expect([...byKey.keys()].sort()).toEqual(
        ["GET 200 /a/:id/:id/b/c/d/e/f/g/h/i", "GET 200 /files/:id", "GET 200 /orders/:id", "GET 200 /slow", "GET 200 /users/:id/profile", "GET 404 /orders/missing", "POST 200 /api/carts/:cartId"].sort(),
      );
      expect(byKey.get("GET 200 /orders/:id")).toMatchObject({ count: 3, routeTemplate: false });
      expect(byKey.get("POST 200 /api/carts/:cartId")).toMatchObject({ count: 1, routeTemplate: true });
      // Nothing of the query or the ids leaves the process.
      // (Routes only for the digits: a latency figure may hold any.)
      expect(JSON.stringify(stats)).not.toMatch(/secret|550e8400|eyJ/);
      expect(stats.map((s) => s.route).join(" ")).not.toMatch(/333/);
      const slow = byKey.get("GET 200 /slow");
      expect(slow?.maxMs).toBeGreaterThanOrEqual(39);
      expect(slow?.totalMs).toBeGreaterThanOrEqual(3 * 39);
      const histogram = new Map(slow?.bucketIndexes.map((b, i) => [b, slow.bucketCounts[i] as number]));
      // Within one bucket (19 %) of the 40 ms the handler waited, timer slack aside.
      expect(latencyQuantile(histogram, 0.5)).toBeGreaterThan(36);
      expect(latencyQuantile(histogram, 0.5)).toBeLessThan(60);
      // A read starts the next window.
      expect(parseHttpReading(inThisProcess(HTTP_INSTRUMENT_READ))).toEqual({ endpoints: [], outgoing: [], requests: { kept: [], limited: 0 } });
      // Removed, it stops counting.
      expect(inThisProcess(HTTP_INSTRUMENT_REMOVE)).toBe(true);
      await get(port, "/orders/1");
      expect(inThisProcess(HTTP_INSTRUMENT_READ)).toBeNull();
    } finally {
      server.close();
    }
  });

  it("times outgoing calls, node:http and fetch alike, per method, host, route and status; a failed call is status 0", async () => {
    const server = createServer((req, res) => {
      res.statusCode = req.url?.startsWith("/missing") ? 404 : 200;
      setTimeout(() => res.end("ok"), req.url?.startsWith("/slow") ? 30 : 0);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    try {
      inThisProcess(httpInstrumentInstall(DEFAULT_HTTP_INSTRUMENT_SETTINGS));
      await get(port, "/users/123?key=secret");
      await (await fetch(`http://127.0.0.1:${port}/users/456?key=secret`)).text();
      await (await fetch(`http://127.0.0.1:${port}/slow`, { method: "POST", body: "x" })).text();
      await (await fetch(`http://127.0.0.1:${port}/missing`)).text();
      // Nothing listens on port 1: refused, no response.
      await get(1, "/refused").catch(() => undefined);
      const reading = parseHttpReading(inThisProcess(HTTP_INSTRUMENT_READ));
      const calls = new Map(reading?.outgoing.map((s) => [`${s.method} ${s.host}${s.route} ${s.status}`, s]));
      expect([...calls.keys()].sort()).toEqual(
        [`GET 127.0.0.1:${port}/users/:id 200`, `POST 127.0.0.1:${port}/slow 200`, `GET 127.0.0.1:${port}/missing 404`, "GET 127.0.0.1:1/refused 0"].sort(),
      );
      // node:http and fetch, the same route: one entry.
      expect(calls.get(`GET 127.0.0.1:${port}/users/:id 200`)?.count).toBe(2);
      expect(calls.get(`POST 127.0.0.1:${port}/slow 200`)?.maxMs).toBeGreaterThanOrEqual(29);
      expect(JSON.stringify(reading?.outgoing)).not.toMatch(/secret/);
      expect(reading?.outgoing.map((s) => s.route).join(" ")).not.toMatch(/123|456/);
      // The same requests, served by this process: the endpoints side saw them too.
      expect(reading?.endpoints.map((e) => e.route).sort()).toEqual(["/missing", "/slow", "/users/:id"]);
    } finally {
      server.close();
    }
  });

  it("under heavy traffic times one request in N, and counts each timed one N times", async () => {
    const server = createServer((_req, res) => res.end());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    try {
      inThisProcess(httpInstrumentInstall({ ...DEFAULT_HTTP_INSTRUMENT_SETTINGS, maxTimedPerSecond: 5 }));
      inThisProcess(HTTP_INSTRUMENT_READ);
      const started = Date.now();
      for (let i = 0; i < 20; i++) await get(port, "/a");
      // 1.1 s, not 1 s: a timer may fire a millisecond early, and 20 requests in 0.999 s is over 20 a
      // second, one in 5 (seen once in a full run).
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 1_100 - (Date.now() - started))));
      // 20 requests in a little over a second, every one timed: 3.6x the 5 a second allowed, so from now on one in 2 to 4.
      expect(parseHttpReading(inThisProcess(HTTP_INSTRUMENT_READ))?.endpoints).toMatchObject([{ route: "/a", count: 20 }]);
      for (let i = 0; i < 20; i++) await get(port, "/a");
      const [sampled] = parseHttpReading(inThisProcess(HTTP_INSTRUMENT_READ))?.endpoints ?? [];
      const every = sampled?.sampledEvery ?? 1;
      expect(every).toBeGreaterThanOrEqual(2);
      expect(every).toBeLessThanOrEqual(4);
      expect(sampled?.count).toBe(every * Math.floor(20 / every));
      expect(sampled?.bucketCounts.reduce((n, c) => n + c, 0)).toBe(sampled?.count);
    } finally {
      server.close();
    }
  });

  it("does not start sampling on a burst read over a few milliseconds: the rate needs a second behind it", async () => {
    const server = createServer((_req, res) => res.end());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    try {
      inThisProcess(httpInstrumentInstall({ ...DEFAULT_HTTP_INSTRUMENT_SETTINGS, maxTimedPerSecond: 100 }));
      inThisProcess(HTTP_INSTRUMENT_READ);
      // 30 requests at once, then a read at once (a window rotated at a spike): ~1,000 a second
      // over those milliseconds, 30 in all.
      await Promise.all(Array.from({ length: 30 }, () => get(port, "/burst")));
      expect(parseHttpReading(inThisProcess(HTTP_INSTRUMENT_READ))?.endpoints).toMatchObject([{ route: "/burst", count: 30 }]);
      for (let i = 0; i < 20; i++) await get(port, "/after");
      const [after] = parseHttpReading(inThisProcess(HTTP_INSTRUMENT_READ))?.endpoints ?? [];
      expect(after).toMatchObject({ route: "/after", count: 20 });
      expect(after?.sampledEvery ?? 1).toBe(1);
    } finally {
      server.close();
    }
  });

  it("caps distinct routes per window: the rest count under (other), nothing is dropped", async () => {
    const server = createServer((_req, res) => res.end());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    try {
      inThisProcess(httpInstrumentInstall({ ...DEFAULT_HTTP_INSTRUMENT_SETTINGS, maxEntries: 3 }));
      for (const name of ["a", "b", "c", "d", "e", "f"]) await get(port, `/${name}`);
      const stats = parseHttpReading(inThisProcess(HTTP_INSTRUMENT_READ))?.endpoints ?? [];
      expect(stats.map((s) => s.route)).toEqual(["/a", "/b", "/c", "(other)"]);
      expect(stats.reduce((n, s) => n + s.count, 0)).toBe(6);
    } finally {
      server.close();
    }
  });
});

describe("the HTTP instrument, when the target does not answer a read in time", () => {
  it("sends no second read while one waits, and hands the late answer out with the next read: nothing is lost", async () => {
    const target = new BlockedTarget((n) => [[["GET", "/r", 200, false, n, 5, 5, [30], [1], ""]], [], 1]);
    const instrument = new HttpInstrument(target);
    expect(await instrument.read(30)).toBeUndefined();
    expect(await instrument.read(30)).toBeUndefined();
    expect(target.sends).toBe(1);
    target.release();
    const reading = instrument.read(30);
    // The late answer came; the next read is sent and answered too.
    await new Promise((resolve) => setTimeout(resolve, 5));
    target.release();
    // Both answers, merged into one entry per route and status.
    expect((await reading)?.endpoints.map((s) => [s.route, s.count])).toEqual([["/r", 3]]);
    expect(target.sends).toBe(2);
  });
});
