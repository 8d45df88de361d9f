import { readdirSync, readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { dirname, join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { RequestView, SnapshotView } from "@seismo/analyzer";
import { Ajv } from "ajv";
import { afterEach, describe, expect, it } from "vitest";
import { eventually } from "../eventually.js";
import { requireDatabases } from "../databases.js";
import { cleanup, FIXTURES, SEISMO, seismo, seismoRun, tempDir } from "./harness.js";

afterEach(cleanup);

function call(port: number, method: string, path: string, options: { body?: unknown; headers?: Record<string, string> } = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers = { ...(body === undefined ? {} : { "content-type": "application/json" }), ...options.headers };
    const req = httpRequest({ host: "127.0.0.1", port, method, path, headers, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end(body);
  });
}

// What must never reach the database, sent in the headers, the query string and the body.
const SECRETS = {
  bearer: "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlLXNlY3JldA",
  apiKey: "sk_live_51Habc0FakeKeyForSeismoTests0001",
  queryToken: "tok_9f8e7d6c5b4a39281706f5e4d3c2b1a0",
  password: "correct horse battery staple",
  card: "4111 1111 1111 1111",
};

/** Every byte the analyzer wrote (the database and its write-ahead log): no secret may be in any of them. */
function storedBytes(db: string): string {
  const dir = dirname(db);
  return readdirSync(dir)
    .filter((f) => f.startsWith("requests-"))
    .map((f) => readFileSync(join(dir, f)).toString("latin1"))
    .join("\n");
}

/** What an agent reads: list_requests and get_request answer with the same story, valid against their own schemas. */
async function expectThroughMcp(db: string, failed: RequestView): Promise<void> {
  const client = new Client({ name: "seismo-test", version: "1.0.0" });
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [SEISMO, "mcp", "--db", db], stderr: "pipe" }));
  try {
    const { tools } = await client.listTools();
    const ajv = new Ajv({ strict: false });
    const answer = async (name: string, args: Record<string, unknown>): Promise<Record<string, unknown>> => {
      const reply = await client.callTool({ name, arguments: args });
      expect(reply.isError ?? false, `${name}: ${JSON.stringify(reply.content)}`).toBe(false);
      const validate = ajv.compile(tools.find((t) => t.name === name)?.outputSchema as object);
      expect(validate(reply.structuredContent), `${name}: ${JSON.stringify(validate.errors)}`).toBe(true);
      return reply.structuredContent as Record<string, unknown>;
    };
    const listed = (await answer("list_requests", { since: "1h", errors: true })) as { requests: RequestView[] };
    expect(listed.requests.map((r) => r.route)).toContain("/api/orders/:id/notes");
    const one = (await answer("get_request", { id: failed.id.slice(0, 9) })) as { request: RequestView };
    expect(one.request).toEqual(failed);
  } finally {
    await client.close();
  }
}

describe("request forensics: failed and slow requests kept with their queries, calls and error", () => {
  for (const framework of ["express", "express4", "fastify", "koa"] as const) {
    it(`${framework} with pg and mysql2: the failing query and its error, the slow query's timeline, concurrent requests apart, no secret stored, nothing of healthy requests`, async () => {
      await requireDatabases();
      const db = join(tempDir(), `requests-${framework}.db`);
      const run = seismo(["run", "--db", db, "--window", "1s", "--no-spikes", "--", process.execPath, join(FIXTURES, "orders-app.cjs")], { FRAMEWORK: framework });
      const port = Number((await run.waitFor(/listening (\d+)/, 20_000))[1]);
      await run.waitFor(/attached to pid \d+.*timing database queries/, 20_000);

      // Healthy and fast: nothing kept.
      for (let i = 0; i < 10; i++) expect(await call(port, "GET", "/health")).toBe(200);
      for (let id = 1; id <= 5; id++) expect(await call(port, "GET", `/api/orders/${id}`)).toBe(200);
      // A query that fails (pg), its error handled by the framework.
      const postNote = () =>
        call(port, "POST", `/api/orders/42/notes?token=${SECRETS.queryToken}&source=app`, {
          body: { note: "leave at the door", password: SECRETS.password, card: SECRETS.card },
          headers: { authorization: SECRETS.bearer, "x-api-key": SECRETS.apiKey, "user-agent": "orders-test/1.0" },
        });
      expect(await postNote()).toBe(500);
      // Its error is new: the daemon arms a capture at the app's line, and the next occurrence brings its values.
      const armedAt = await run.waitFor(/capture \S+ armed at (\S*orders-app\.cjs):(\d+)/, 20_000);
      expect(await postNote()).toBe(500);
      // A query that fails (mysql2).
      expect(await call(port, "GET", "/api/stock/SKU-7")).toBe(500);
      // Slow: the query waits 0.8 s in the database.
      expect(await call(port, "GET", "/api/orders/7")).toBe(200);
      // Three at once, their queries interleaved on one pool.
      expect(await Promise.all([11, 12, 13].map((id) => call(port, "GET", `/api/mix/${id}`)))).toEqual([503, 503, 503]);

      let last = "";
      const requests = await eventually(
        async () => {
          const listed = await seismoRun(["requests", "--db", db, "--since", "10m", "--json"]);
          last = listed.stdout + listed.stderr;
          if (listed.code !== 0) return undefined;
          const all = JSON.parse(listed.stdout) as RequestView[];
          return all.length >= 7 ? all : undefined;
        },
        { timeoutMs: 20_000, everyMs: 500, explain: () => `seismo requests said: ${last.slice(0, 2000)}` },
      );
      run.child.kill("SIGTERM");
      expect((await run.exited).code, run.stderr()).toBe(0);

      const byRoute = (route: string) => requests.filter((r) => r.route === route);
      // Nothing of the healthy ones; each kept one once.
      expect(requests.map((r) => r.route).sort()).toEqual(["/api/mix/:id", "/api/mix/:id", "/api/mix/:id", "/api/orders/:id", "/api/orders/:id/notes", "/api/orders/:id/notes", "/api/stock/:sku"]);

      const [failed] = byRoute("/api/orders/:id/notes");
      expect(failed).toMatchObject({ method: "POST", status: 500, keptBecause: "error", routeTemplate: true, params: { path: { id: "42" }, query: { token: "[redacted]", source: "app" } } });
      expect(failed?.params.body).toMatchObject({ note: "leave at the door", password: "[redacted]", card: "[redacted]" });
      expect(failed?.params.headers).toMatchObject({ "user-agent": "orders-test/1.0", "content-type": "application/json" });
      expect(Object.keys(failed?.params.headers as object)).not.toContain("authorization");
      expect(failed?.queries).toMatchObject([
        { statement: "INSERT INTO seismo_missing_notes (order_id, note) VALUES ($1, $2)", database: "postgresql://127.0.0.1:5432/test", error: { code: "42P01", message: 'relation "seismo_missing_notes" does not exist' } },
      ]);
      expect(failed?.error).toMatchObject({ type: "DatabaseError", code: "42P01", message: 'relation "seismo_missing_notes" does not exist', handledBy: framework === "express4" ? "express" : framework });
      // The app's own frame: the data layer's line that ran the query, not pg's.
      expect(failed?.error?.appFrame).toMatch(/orders-app\.cjs:\d+:\d+\)?$/);

      const [stock] = byRoute("/api/stock/:sku");
      expect(stock).toMatchObject({ status: 500, keptBecause: "error", params: { path: { sku: "SKU-7" } } });
      expect(stock?.queries).toMatchObject([{ statement: "SELECT qty FROM seismo_missing_stock WHERE sku = ?", database: "mysql://127.0.0.1:3306/test", error: { code: "ER_NO_SUCH_TABLE" } }]);
      expect(stock?.queries[0]?.error?.message).toMatch(/seismo_missing_stock' doesn't exist/);

      const [slow] = byRoute("/api/orders/:id");
      expect(slow).toMatchObject({ status: 200, keptBecause: "slow", slowThresholdMs: 500, params: { path: { id: "7" } } });
      expect(slow?.durationMs).toBeGreaterThan(800);
      expect(slow?.queries).toHaveLength(1);
      expect(slow?.queries[0]?.rows).toBe(1);
      // The query is most of the request.
      expect(slow?.queries[0]?.durationMs ?? 0).toBeGreaterThan(0.9 * (slow?.durationMs ?? 0));

      // Each of the concurrent requests holds its own three queries, and no other's.
      const mixed = byRoute("/api/mix/:id");
      expect(mixed.map((r) => (r.params.path as { id: string }).id).sort()).toEqual(["11", "12", "13"]);
      for (const r of mixed) {
        const id = (r.params.path as { id: string }).id;
        expect(r).toMatchObject({ status: 503, keptBecause: "status" });
        expect(r.queries.map((q) => q.statement)).toEqual([0, 1, 2].map(() => `SELECT ? AS request_${id}, pg_sleep(?)`));
      }

      // The error's values at the app's line, from its second occurrence: the request the handler worked on.
      const trigger = failed?.error?.captureTrigger ?? "";
      expect(trigger).toMatch(/^error:[0-9a-f]{12}$/);
      const snapshots = await eventually(
        async () => {
          const listed = await seismoRun(["snapshots", "--db", db, "--errors", "--since", "10m", "--json"]);
          const mine = (JSON.parse(listed.stdout || "[]") as SnapshotView[]).filter((s) => s.trigger === trigger);
          return mine.some((s) => s.hit > 0) ? mine : undefined;
        },
        { timeoutMs: 10_000, everyMs: 500 },
      ).catch((error: unknown) => {
        throw new Error(`${String(error)}; daemon said:\n${run.stdout()}${run.stderr()}`);
      });
      const [first] = snapshots.filter((s) => s.hit === 0);
      expect(first?.error).toBe('DatabaseError: relation "seismo_missing_notes" does not exist');
      const [values] = snapshots.filter((s) => s.hit > 0);
      expect(`${values?.file}:${values?.line}`).toBe(`${armedAt[1]}:${armedAt[2]}`);
      expect(values?.locals.map((l) => l.name)).toContain({ express: "req", express4: "req", fastify: "request", koa: "ctx" }[framework]);

      // No secret anywhere the analyzer wrote.
      const bytes = storedBytes(db);
      expect(bytes.length).toBeGreaterThan(10_000);
      for (const [name, secret] of Object.entries(SECRETS)) expect(bytes.includes(secret), name).toBe(false);

      // The timeline people read.
      const shown = await seismoRun(["show", failed?.id ?? "", "--db", db]);
      expect(shown.code, shown.stderr).toBe(0);
      expect(shown.stdout).toMatch(/POST \/api\/orders\/:id\/notes\s+500 in/);
      expect(shown.stdout).toMatch(/query INSERT INTO seismo_missing_notes .* \(postgresql:\/\/127\.0\.0\.1:5432\/test\)/);
      expect(shown.stdout).toMatch(/failed: 42P01 relation "seismo_missing_notes" does not exist/);
      expect(shown.stdout).toMatch(/in the app at .*orders-app\.cjs:\d+/);
      const list = await seismoRun(["requests", "--db", db, "--since", "10m", "--slow"]);
      expect(list.stdout).toMatch(new RegExp(`${slow?.id ?? "-"}\\s+\\S+\\s+GET /api/orders/:id\\s+200\\s+\\d+ ms\\s+slow: over 500 ms`));
      if (framework === "express") await expectThroughMcp(db, failed as RequestView);
    }, 90_000);
  }
});
