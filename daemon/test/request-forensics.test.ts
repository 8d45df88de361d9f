import type { IncomingMessage, RequestListener, Server } from "node:http";
import { createServer, request as httpRequest } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { runInThisContext } from "node:vm";
import type * as PgModule from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { RawRequest } from "../src/in-target/request-forensics.js";
import { DB_INSTRUMENT_READ, DB_INSTRUMENT_REMOVE, dbInstrumentInstall, DEFAULT_DB_INSTRUMENT_SETTINGS } from "../src/instruments/db-instrument.js";
import { DEFAULT_HTTP_INSTRUMENT_SETTINGS, HTTP_INSTRUMENT_READ, HTTP_INSTRUMENT_REMOVE, httpInstrumentInstall, parseHttpReading } from "../src/instruments/http-instrument.js";
import { toRequestExemplar } from "../src/instruments/request-exemplar.js";
import { DEFAULT_REQUEST_FORENSICS } from "../src/instruments/request-forensics.js";
import { eventually } from "../../test/eventually.js";

/** The in-target scripts run here, in this process: real node:http, real Express and pg, real diagnostics_channel. */
const inThisProcess = (expression: string): unknown => runInThisContext(expression);
const load = createRequire(import.meta.url);
const pg = load("pg") as typeof PgModule;

interface ExpressApp extends RequestListener {
  use(...handlers: unknown[]): void;
  get(path: string, ...handlers: unknown[]): void;
  post(path: string, ...handlers: unknown[]): void;
}
type ExpressModule = (() => ExpressApp) & { Router(): ExpressApp; json(): unknown };
interface Req {
  params: Record<string, string>;
  body?: unknown;
}
interface Res {
  json(body: unknown): void;
  status(code: number): Res;
}

function send(port: number, path: string, options: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path, method: options.method ?? "GET", headers: options.headers, agent: false }, (res: IncomingMessage) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

function kept(): RawRequest[] {
  return parseHttpReading(inThisProcess(HTTP_INSTRUMENT_READ))?.requests.kept ?? [];
}

let pool: PgModule.Pool;
beforeAll(async () => {
  pool = new pg.Pool({ host: "127.0.0.1", user: "postgres", database: "test", max: 8 });
  // Fails with what to start when the machine's PostgreSQL is not there.
  await pool.query("SELECT 1").catch((error: unknown) => {
    throw new Error(`PostgreSQL on 127.0.0.1:5432 (user postgres, database test) is needed: ${String(error)}`);
  });
});
afterAll(() => pool.end());
afterEach(() => {
  inThisProcess(HTTP_INSTRUMENT_REMOVE);
  inThisProcess(DB_INSTRUMENT_REMOVE);
});

/** An Express shop the way services are written: a mounted router, async handlers, an error handler that answers 500. */
function shop(express: ExpressModule): ExpressApp {
  const app = express();
  app.use(express.json());
  const orders = express.Router();
  orders.get("/:id", async (req: Req, res: Res) => {
    const { rows } = await pool.query("SELECT $1::int AS id, pg_sleep($2)", [Number(req.params.id), req.params.id === "7" ? 0.7 : 0]);
    res.json(rows[0]);
  });
  orders.post("/:id/notes", async (req: Req, res: Res) => {
    await pool.query("SELECT * FROM seismo_missing_notes WHERE order_id = $1", [Number(req.params.id)]);
    res.json({ ok: true, body: req.body });
  });
  app.use("/api/orders", orders);
  app.get("/health", (_req: Req, res: Res) => res.json({ ok: true }));
  // As services do: the error's own status (body-parser's 400 for malformed JSON), else 500.
  app.use((error: Error & { status?: number }, _req: Req, res: Res, _next: unknown) => {
    void _next;
    res.status(error.status ?? 500).json({ error: error.message });
  });
  return app;
}

async function listening(handler: RequestListener): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

describe("request forensics in the target (Express 5 and pg, in this process)", () => {
  it("keeps a request whose query failed: route, params, the failing statement and the database's message, the error Express handled; secrets nowhere", async () => {
    const { server, port } = await listening(shop(load("express") as ExpressModule));
    try {
      expect(inThisProcess(httpInstrumentInstall(DEFAULT_HTTP_INSTRUMENT_SETTINGS))).toBe("installed");
      expect(inThisProcess(dbInstrumentInstall(DEFAULT_DB_INSTRUMENT_SETTINGS))).toBe("installed");
      const status = await send(port, "/api/orders/42/notes?token=tok_live_4eC39HqLyjWDarjtT1zdp7dc&page=2", {
        method: "POST",
        body: JSON.stringify({ note: "leave at door", password: "hunter2", card: "4242 4242 4242 4242" }),
        headers: { "content-type": "application/json", authorization: "Bearer abc.def.ghi", "user-agent": "test-agent/1" },
      });
      expect(status).toBe(500);
      const [request, ...more] = kept();
      expect(more).toEqual([]);
      expect(request).toMatchObject({ method: "POST", route: "/api/orders/:id/notes", template: true, status: 500, why: "error" });
      expect(request?.steps).toMatchObject([{ k: "query", s: "SELECT * FROM seismo_missing_notes WHERE order_id = $1", h: "postgresql://127.0.0.1:5432/test", c: "42P01", e: 'relation "seismo_missing_notes" does not exist' }]);
      expect(request?.error).toMatchObject({ type: "DatabaseError", code: "42P01", by: "express", message: 'relation "seismo_missing_notes" does not exist' });

      const exemplar = toRequestExemplar(request as RawRequest, { targetId: "t", daemonId: "d", service: "shop", deployment: "", pid: 1, host: "", pod: "", namespace: "" });
      expect(exemplar.params?.children.map((c) => [c.name, c.value])).toEqual([["id", "42"]]);
      expect(exemplar.query?.children.map((c) => [c.name, c.value])).toEqual([
        ["token", "[redacted]"],
        ["page", "2"],
      ]);
      expect(exemplar.headers?.children.map((c) => c.name).sort()).toEqual(["content-length", "content-type", "host", "user-agent"]);
      expect(exemplar.body?.children.map((c) => [c.name, c.value])).toEqual([
        ["note", "leave at door"],
        ["password", "[redacted]"],
        ["card", "[redacted]"],
      ]);
      const published = JSON.stringify(exemplar);
      for (const secret of ["tok_live_4eC39HqLyjWDarjtT1zdp7dc", "hunter2", "4242 4242 4242 4242", "abc.def.ghi"]) expect(published).not.toContain(secret);
      // The stack's app frame: this file, where the handler awaited the query.
      expect(exemplar.error?.appFrame).toMatch(/request-forensics\.test\.ts:\d+:\d+/);
    } finally {
      server.close();
    }
  });

  it("keeps a slow request with its timeline (the slow query most of it), and nothing of healthy fast ones", async () => {
    const { server, port } = await listening(shop(load("express") as ExpressModule));
    try {
      inThisProcess(httpInstrumentInstall(DEFAULT_HTTP_INSTRUMENT_SETTINGS));
      inThisProcess(dbInstrumentInstall(DEFAULT_DB_INSTRUMENT_SETTINGS));
      for (let i = 0; i < 5; i++) expect(await send(port, `/api/orders/${i}`)).toBe(200);
      expect(await send(port, "/health")).toBe(200);
      // A client's mistake is not a failure: malformed JSON, answered 400 through the error handler.
      expect(await send(port, "/api/orders/3/notes", { method: "POST", body: "{not json", headers: { "content-type": "application/json" } })).toBe(400);
      expect(kept()).toEqual([]);
      expect(await send(port, "/api/orders/7")).toBe(200);
      const [slow] = kept();
      expect(slow).toMatchObject({ route: "/api/orders/:id", status: 200, why: "slow", over: DEFAULT_REQUEST_FORENSICS.slowFloorMs });
      expect(slow?.ms).toBeGreaterThan(700);
      expect(slow?.steps).toHaveLength(1);
      const query = slow?.steps[0];
      expect(query?.s).toBe("SELECT $1::int AS id, pg_sleep($2)");
      expect(query?.r).toBe(1);
      expect(query?.d ?? 0).toBeGreaterThan(0.9 * (slow?.ms ?? 0) - 5);
    } finally {
      server.close();
      inThisProcess(DB_INSTRUMENT_READ);
    }
  });

  it("never mixes the queries of concurrent requests", async () => {
    // Each request runs three queries that name it, interleaved with the others' on a shared pool.
    const express = load("express") as ExpressModule;
    const app = express();
    app.get("/mix/:id", async (req: Req, res: Res) => {
      const id = Number(req.params.id);
      for (let step = 0; step < 3; step++) await pool.query(`SELECT ${id} AS request_${id}, pg_sleep(0.01 * ((${id} + ${step}) % 3))`);
      res.status(id % 2 === 0 ? 503 : 500).json({ id });
    });
    const { server, port } = await listening(app);
    try {
      inThisProcess(httpInstrumentInstall(DEFAULT_HTTP_INSTRUMENT_SETTINGS));
      inThisProcess(dbInstrumentInstall(DEFAULT_DB_INSTRUMENT_SETTINGS));
      // Three per route at once: all twelve are under one route, so the test asks for three.
      const ids = [1, 2, 3];
      await Promise.all(ids.map((id) => send(port, `/mix/${id}`)));
      const requests = kept();
      expect(requests).toHaveLength(3);
      for (const request of requests) {
        const names = request.steps.map((s) => s.s);
        expect(names).toHaveLength(3);
        // Digests keep the column alias: each request's three queries name that request only.
        const own = names.map((n) => /request_(\d+)/.exec(n)?.[1]);
        expect(new Set(own).size).toBe(1);
        expect(request.status).toBe(Number(own[0]) % 2 === 0 ? 503 : 500);
      }
      expect(new Set(requests.map((r) => r.steps[0]?.s)).size).toBe(3);
    } finally {
      server.close();
      inThisProcess(DB_INSTRUMENT_READ);
    }
  });

  it("keeps a few requests a minute of a route that fails every time, and counts the rest", async () => {
    const express = load("express") as ExpressModule;
    const app = express();
    app.get("/broken", (_req: Req, res: Res) => res.status(500).json({}));
    const { server, port } = await listening(app);
    try {
      inThisProcess(httpInstrumentInstall(DEFAULT_HTTP_INSTRUMENT_SETTINGS));
      for (let i = 0; i < 40; i++) expect(await send(port, "/broken")).toBe(500);
      const reading = parseHttpReading(inThisProcess(HTTP_INSTRUMENT_READ));
      expect(reading?.requests.kept).toHaveLength(DEFAULT_REQUEST_FORENSICS.routeBurst);
      expect(reading?.requests.limited).toBe(40 - DEFAULT_REQUEST_FORENSICS.routeBurst);
    } finally {
      server.close();
    }
  });

  it("keeps the outgoing calls of a failed request in order: node:http's answer and fetch's refused connection, with their errors", async () => {
    const stock = await listening((_req, res) => {
      res.statusCode = 503;
      res.end();
    });
    // A port nothing listens on: the call is refused.
    const closed = await listening(() => undefined);
    closed.server.close();
    const express = load("express") as ExpressModule;
    const app = express();
    app.get("/checkout/:id", async (_req: Req, res: Res) => {
      const status = await new Promise<number>((resolve, reject) => httpRequest({ host: "127.0.0.1", port: stock.port, path: "/stock/12345" }, (r) => resolve(r.resume().statusCode ?? 0)).on("error", reject).end());
      const refused = await fetch(`http://127.0.0.1:${closed.port}/payments`).then(() => "answered", (error: Error) => error.message);
      res.status(502).json({ status, refused });
    });
    const { server, port } = await listening(app);
    try {
      inThisProcess(httpInstrumentInstall(DEFAULT_HTTP_INSTRUMENT_SETTINGS));
      expect(await send(port, "/checkout/7")).toBe(502);
      // (The stock service's 503 is a request served in this process too, kept apart.)
      const all = kept();
      expect(all.map((r) => r.route).sort()).toEqual(["/checkout/:id", "/stock/:id"]);
      const request = all.find((r) => r.route === "/checkout/:id");
      expect(request).toMatchObject({ status: 502, why: "status" });
      expect(request?.steps).toMatchObject([
        { k: "call", s: "GET", h: `127.0.0.1:${stock.port}`, p: "/stock/:id", st: 503 },
        { k: "call", s: "GET", h: `127.0.0.1:${closed.port}`, p: "/payments", st: 0, c: "ECONNREFUSED" },
      ]);
      expect(request?.steps[1]?.o ?? 0).toBeGreaterThanOrEqual((request?.steps[0]?.o ?? 0) + (request?.steps[0]?.d ?? 0));
    } finally {
      server.close();
      stock.server.close();
    }
  });

  it("keeps a request its client gave up on, with the query still running then marked unfinished", async () => {
    const express = load("express") as ExpressModule;
    const app = express();
    app.get("/report/:id", async (_req: Req, res: Res) => {
      const { rows } = await pool.query("SELECT pg_sleep(0.4) AS waited");
      res.json(rows);
    });
    const { server, port } = await listening(app);
    try {
      inThisProcess(httpInstrumentInstall(DEFAULT_HTTP_INSTRUMENT_SETTINGS));
      inThisProcess(dbInstrumentInstall(DEFAULT_DB_INSTRUMENT_SETTINGS));
      // The client's timeout: it closes the connection 100 ms in.
      await new Promise<void>((resolve) => {
        const req = httpRequest({ host: "127.0.0.1", port, path: "/report/3", agent: false });
        req.on("error", () => resolve());
        req.end();
        setTimeout(() => req.destroy(), 100);
      });
      const [request] = await eventually(() => {
        const found = kept();
        return found.length > 0 ? found : undefined;
      });
      expect(request).toMatchObject({ route: "/report/:id", template: true, status: 0, why: "aborted" });
      expect(request?.ms).toBeGreaterThan(90);
      expect(request?.ms).toBeLessThan(400);
      expect(request?.steps).toMatchObject([{ k: "query", s: "SELECT pg_sleep(?) AS waited", d: -1 }]);
      // The query ends later, the story as it was when the client left.
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(kept()).toEqual([]);
    } finally {
      server.close();
      inThisProcess(DB_INSTRUMENT_READ);
    }
  });

  it("keeps nothing and follows nothing when turned off (--no-requests): the steps' entry point is not even there", async () => {
    const express = load("express") as ExpressModule;
    const app = express();
    app.get("/broken", async (_req: Req, res: Res) => {
      await pool.query("SELECT 1");
      res.status(500).json({});
    });
    const { server, port } = await listening(app);
    try {
      inThisProcess(httpInstrumentInstall({ ...DEFAULT_HTTP_INSTRUMENT_SETTINGS, requests: undefined }));
      inThisProcess(dbInstrumentInstall(DEFAULT_DB_INSTRUMENT_SETTINGS));
      expect((globalThis as unknown as Record<symbol, unknown>)[Symbol.for(DEFAULT_REQUEST_FORENSICS.key)]).toBeUndefined();
      expect(await send(port, "/broken")).toBe(500);
      expect(parseHttpReading(inThisProcess(HTTP_INSTRUMENT_READ))).toMatchObject({ endpoints: [{ route: "/broken", status: 500, count: 1 }], requests: { kept: [], limited: 0 } });
    } finally {
      server.close();
      inThisProcess(DB_INSTRUMENT_READ);
    }
  });

  for (const name of ["express", "express4"] as const) {
    it(`${name}: an error no error handler took (the final handler's 500) is still the request's error`, async () => {
      const express = load(name) as ExpressModule;
      const quiet = process.env.NODE_ENV;
      process.env.NODE_ENV = "test"; // (the app's final handler prints the stack otherwise)
      const app = express();
      const items = express.Router();
      // Express 5 passes an async handler's rejection on; Express 4 only a synchronous throw.
      items.get("/:id", name === "express" ? async () => Promise.reject(new RangeError("no item 9")) : () => {
        throw new RangeError("no item 9");
      });
      app.use("/items", items);
      const { server, port } = await listening(app);
      try {
        inThisProcess(httpInstrumentInstall(DEFAULT_HTTP_INSTRUMENT_SETTINGS));
        expect(await send(port, "/items/9")).toBe(500);
        const [request] = kept();
        expect(request).toMatchObject({ route: "/items/:id", status: 500, why: "error", error: { type: "RangeError", message: "no item 9", by: "express" } });
      } finally {
        process.env.NODE_ENV = quiet;
        server.close();
      }
    });
  }
});
