import { request as httpRequest } from "node:http";
import { join } from "node:path";
import type { EndpointFigures } from "@seismo/analyzer";
import { afterEach, describe, expect, it } from "vitest";
import { requireDatabases } from "../databases.js";
import { cleanup, FIXTURES, seismo, seismoRun, sleep, tempDir } from "./harness.js";

afterEach(cleanup);

/** One row of `seismo endpoints --json` (and `queries --json`): the CLI prints the analyzer's figures as they are. */
type EndpointJson = EndpointFigures;

function call(port: number, method: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path, method }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("HTTP endpoints, timed inside an unmodified app", () => {
  it("counts every request per method, route and status, with latency percentiles, ids and queries left out", async () => {
    const db = join(tempDir(), "endpoints.db");
    const run = seismo(["run", "--db", db, "--window", "1s", "--no-spikes", "--", process.execPath, join(FIXTURES, "routes-app.cjs")]);
    const port = Number((await run.waitFor(/listening (\d+)/, 20_000))[1]);
    await run.waitFor(/attached to pid \d+.*timing HTTP endpoints/, 20_000);
    const sent = { getOrder: 0, postOrder: 0, reports: 0, boom: 0, checkout: 0 };
    const statuses: number[] = [];
    const until = Date.now() + 3_000;
    let i = 0;
    while (Date.now() < until) {
      i++;
      const batch = [call(port, "GET", `/orders/${1_000 + i}?token=s3cret-${i}`), call(port, "GET", `/reports/${i}`)];
      sent.getOrder++;
      sent.reports++;
      if (i % 4 === 0) {
        batch.push(call(port, "POST", "/orders"));
        sent.postOrder++;
      }
      if (i % 10 === 0) {
        batch.push(call(port, "GET", "/boom"));
        sent.boom++;
      }
      if (i % 5 === 0) {
        batch.push(call(port, "POST", "/checkout"));
        sent.checkout++;
      }
      statuses.push(...(await Promise.all(batch)));
    }
    // Two more windows, so that every request is in a published one.
    await sleep(2_500);
    run.child.kill("SIGTERM");
    expect((await run.exited).code, run.stderr()).toBe(0);

    const result = await seismoRun(["endpoints", "--db", db, "--since", "10m", "--json"]);
    expect(result.code, result.stderr).toBe(0);
    const endpoints = JSON.parse(result.stdout) as EndpointJson[];
    const byRoute = new Map(endpoints.map((e) => [`${e.method} ${e.route}`, e]));
    expect([...byRoute.keys()].sort()).toEqual(["GET /boom", "GET /orders/:id", "GET /reports/:id", "POST /checkout", "POST /orders"]);
    // Every request, once: none lost between windows, none counted twice (each checkout also
    // requested an order and a report of the app itself).
    expect(byRoute.get("GET /orders/:id")?.calls).toBe(sent.getOrder + sent.checkout);
    expect(byRoute.get("POST /checkout")?.calls).toBe(sent.checkout);
    expect(byRoute.get("POST /orders")?.calls).toBe(sent.postOrder);
    expect(byRoute.get("GET /boom")).toMatchObject({ calls: sent.boom, errors: sent.boom, errorRate: 1, statuses: { "500": sent.boom } });
    const reports = byRoute.get("GET /reports/:id");
    expect(reports?.statuses).toEqual({ "200": Math.floor(sent.reports / 2) + sent.checkout, "404": Math.ceil(sent.reports / 2) });
    expect(reports?.errors).toBe(0);
    // The POST waits 25 ms in the app: its median says so, within a histogram bucket and timer slack.
    const post = byRoute.get("POST /orders");
    expect(post?.p50Ms).toBeGreaterThan(22);
    expect(post?.p50Ms).toBeLessThan(40);
    expect(post?.maxMs).toBeGreaterThanOrEqual(24);
    expect(byRoute.get("GET /orders/:id")?.p50Ms).toBeLessThan(post?.p50Ms ?? 0);
    expect(byRoute.get("GET /orders/:id")?.ratePerSec).toBeGreaterThan(0);
    for (const e of endpoints) expect(e.p50Ms <= e.p95Ms && e.p95Ms <= e.p99Ms && e.p99Ms <= e.maxMs, JSON.stringify(e)).toBe(true);
    // No id, no query, no token left the app.
    expect(result.stdout).not.toMatch(/s3cret|token/);
    expect(endpoints.map((e) => e.route).join(" ")).not.toMatch(/\d/);

    // The calls the app made, by fetch and by node:http: per destination and route, each once.
    const outgoing = await seismoRun(["endpoints", "--outgoing", "--db", db, "--since", "10m", "--json"]);
    expect(outgoing.code, outgoing.stderr).toBe(0);
    const calls = (JSON.parse(outgoing.stdout) as EndpointJson[]).map((e) => [e.method, e.host, e.route, e.calls, e.errors]);
    expect(calls.sort()).toEqual(
      [
        ["GET", `127.0.0.1:${port}`, "/orders/:id", sent.checkout, 0],
        ["GET", `127.0.0.1:${port}`, "/reports/:id", sent.checkout, 0],
      ].sort(),
    );

    const table = await seismoRun(["endpoints", "--db", db, "--since", "10m"]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/CALLS\s+RATE\s+5XX\s+P50\s+P95\s+P99\s+MAX\s+ENDPOINT/);
    expect(table.stdout).toMatch(new RegExp(`\\b${sent.boom}\\s+\\S+\\s+100%\\s+.*GET /boom`));
  }, 60_000);

  it("database queries: pg and mysql2 timed per statement digest, every query once, failures apart, no value stored", async () => {
    await requireDatabases();
    const db = join(tempDir(), "queries.db");
    const run = seismo(["run", "--db", db, "--window", "1s", "--no-spikes", "--", process.execPath, join(FIXTURES, "db-app.cjs")]);
    const port = Number((await run.waitFor(/listening (\d+)/, 20_000))[1]);
    await run.waitFor(/attached to pid \d+.*timing database queries/, 20_000);
    for (let i = 1; i <= 20; i++) expect(await call(port, "GET", `/orders/${1000 + i}`)).toBe(200);
    for (let i = 0; i < 3; i++) expect(await call(port, "GET", "/broken")).toBe(500);
    await sleep(2_500);
    run.child.kill("SIGTERM");
    expect((await run.exited).code, run.stderr()).toBe(0);
    const result = await seismoRun(["queries", "--db", db, "--since", "10m", "--json"]);
    expect(result.code, result.stderr).toBe(0);
    const queries = (JSON.parse(result.stdout) as EndpointJson[]).map((q) => [q.host, q.method, q.route, q.calls, q.errors]);
    expect(queries.sort()).toEqual(
      [
        ["mysql://127.0.0.1:3306/test", "SELECT", "SELECT ? * ? AS doubled", 20, 0],
        ["postgresql://127.0.0.1:5432/test", "SELECT", "SELECT $1::int AS id, ? AS note, pg_sleep(?)", 20, 0],
        ["postgresql://127.0.0.1:5432/test", "SELECT", "SELECT * FROM no_such_table_seismo", 3, 3],
      ].sort(),
    );
    expect(result.stdout).not.toMatch(/secret-token/);
    expect(queries.map((q) => q[2]).join(" ")).not.toMatch(/\d{4}/);
    const table = await seismoRun(["queries", "--db", db, "--since", "10m"]);
    expect(table.stdout).toMatch(/CALLS\s+RATE\s+ERR\s+P50\s+P95\s+P99\s+MAX\s+DATABASE\s+STATEMENT/);
  }, 60_000);

  for (const framework of ["express", "express4", "fastify", "koa", "hono", "hono-esm", "nest"] as const) {
    it(`${framework}: every request once under the template the app declared, nested routers and a router that hands back to its parent included`, async () => {
      const db = join(tempDir(), `routers-${framework}.db`);
      const run = seismo(["run", "--db", db, "--window", "1s", "--no-spikes", "--", process.execPath, join(FIXTURES, "routers-app.cjs")], { FRAMEWORK: framework });
      const port = Number((await run.waitFor(/listening (\d+)/, 20_000))[1]);
      await run.waitFor(/attached to pid \d+.*timing HTTP endpoints/, 20_000);
      // Hono's ES modules are reached once its files show in a profile window: the health check
      // runs until the daemon says it reads Hono's routes (the checks before that are left out below).
      const esm = framework === "hono-esm";
      if (esm) {
        const seen = run.waitFor(/routes of Hono \(an ES module, .*hono\/dist\/context\.js\) read from its Context/, 20_000);
        let warming = true;
        void seen.finally(() => (warming = false)).catch(() => undefined);
        // At 50 a second: flat out, they would pass the instrument's 1,000 timed a second, and the
        // next window would time one request in N and count it N times.
        while (warming) {
          await call(port, "GET", "/health");
          await sleep(20);
        }
        await seen;
      }
      const sent: Array<[string, number]> = [];
      const send = async (path: string, times: number): Promise<void> => {
        for (let i = 0; i < times; i++) sent.push([path, await call(port, "GET", path.replaceAll("$i", () => String(i + 1)))]);
      };
      await send("/api/products/$i", 5);
      await send("/api/products/abc$i", 3);
      await send("/api/products/$i/reviews", 4);
      await send("/health", 2);
      await send("/nowhere/$i$i$i", 2);
      // A route that hands the response on to a later middleware: not how Fastify or Nest apps are written.
      const handsOn = framework !== "fastify" && framework !== "nest";
      const rootRoute = framework !== "fastify";
      if (handsOn) await send("/db/posts/$i", 4);
      if (rootRoute) await send("/api/products", 2);
      // What the app answered: the 500s and 404s are the app's own, not the test's.
      expect(sent.filter(([, status]) => status === 500)).toHaveLength(3);
      expect(sent.filter(([, status]) => status === 404)).toHaveLength(2);
      await sleep(2_500);
      run.child.kill("SIGTERM");
      expect((await run.exited).code, run.stderr()).toBe(0);
      const result = await seismoRun(["endpoints", "--db", db, "--since", "10m", "--json"]);
      expect(result.code, result.stderr).toBe(0);
      const all = (JSON.parse(result.stdout) as EndpointJson[]).map((e) => [e.route, e.routeTemplate, e.statuses]);
      // The warm-up's health checks: under the template once the routes were read.
      const endpoints = esm ? all.filter(([route]) => route !== "/health") : all;
      if (esm) expect(all.filter(([route, template]) => route === "/health" && template)).toHaveLength(1);
      const unmatched = framework === "fastify" ? ["/nowhere/:id", false, { 404: 2 }] : ["(unmatched)", false, { 404: 2 }];
      expect(endpoints.sort()).toEqual(
        [
          ["/api/products/:id", true, { 200: 5, 500: 3 }],
          ["/api/products/:id/reviews", true, { 200: 4 }],
          ...(esm ? [] : [["/health", true, { 200: 2 }]]),
          unmatched,
          ...(handsOn ? [["/db/posts/:id", true, { 200: 4 }]] : []),
          ...(rootRoute ? [["/api/products", true, { 200: 2 }]] : []),
        ].sort(),
      );
    }, 60_000);
  }

  it("uses Express's own route templates, under the router's mount path", async () => {
    const db = join(tempDir(), "express.db");
    const run = seismo(["run", "--db", db, "--window", "1s", "--no-spikes", "--", process.execPath, join(FIXTURES, "express-app.cjs")]);
    const port = Number((await run.waitFor(/listening (\d+)/, 20_000))[1]);
    await run.waitFor(/attached to pid \d+.*timing HTTP endpoints/, 20_000);
    for (let i = 0; i < 6; i++) {
      expect(await call(port, "GET", `/users/u${i}`)).toBe(200);
      expect(await call(port, "GET", `/api/carts/${i}/items/sku-${i}`)).toBe(200);
      expect(await call(port, "POST", "/api/carts")).toBe(201);
    }
    // A path no route matches: said so, not a normalized path that looks like a route.
    expect(await call(port, "GET", "/nowhere/12345")).toBe(404);
    await sleep(2_500);
    run.child.kill("SIGTERM");
    expect((await run.exited).code, run.stderr()).toBe(0);
    const result = await seismoRun(["endpoints", "--db", db, "--since", "10m", "--json"]);
    expect(result.code, result.stderr).toBe(0);
    const endpoints = (JSON.parse(result.stdout) as EndpointJson[]).map((e) => [e.method, e.route, e.routeTemplate, e.calls]);
    expect(endpoints.sort()).toEqual(
      [
        ["GET", "/api/carts/:cartId/items/:sku", true, 6],
        ["GET", "(unmatched)", false, 1],
        ["GET", "/users/:userId", true, 6],
        ["POST", "/api/carts", true, 6],
      ].sort(),
    );
  }, 60_000);
});
