import { randomBytes } from "node:crypto";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { Ajv } from "ajv";
import { Profile } from "pprof-format";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Load, Proc } from "./harness.js";
import { cleanup, SEISMO, seismo, seismoRun, sleep, startFixture, startLoad, startWebhookReceiver, tempDir } from "./harness.js";

const db = join(tempDir(), "mcp.db");
const TOKEN = randomBytes(24).toString("hex");

/** A database from a real run: the spike fixture under load as v1 with a CPU spike (and its capture), then a few windows as v2. */
beforeAll(async () => {
  const app = await startFixture("spike-app.cjs", { env: { CATALOG_SIZE: "1000" } });
  const load: Load = startLoad(app.port, 100);
  const attach = (deployment: string): Proc =>
    seismo(["attach", String(app.pid), "--db", db, "--window", "1s", "--burst-duration", "1500ms", "--burst-cooldown", "2s", "--deployment", deployment, "--service", "shop"]);
  const v1 = attach("v1");
  await v1.waitFor(/attached to pid/, 15_000);
  await sleep(7_000);
  await fetch(`http://127.0.0.1:${app.port}/admin/spike?kind=regex&ms=3500`, { method: "POST" });
  await v1.waitFor(/incident spk-[0-9a-f]{10}/, 15_000);
  await app.waitFor(/spike-end regex/, 10_000);
  await v1.waitFor(/capture \S+ disarmed/, 15_000).catch(() => undefined);
  v1.child.kill("SIGINT");
  await v1.exited;
  const v2 = attach("v2");
  await v2.waitFor(/attached to pid/, 15_000);
  await sleep(4_000);
  v2.child.kill("SIGINT");
  await v2.exited;
  await load.stop();
}, 90_000);
afterAll(cleanup);

const ajv = new Ajv({ strict: false });

/** Calls every tool, checking each structured result against the tool's own output schema. */
async function exercise(client: Client): Promise<Record<string, Record<string, unknown>>> {
  const { tools } = await client.listTools();
  expect(tools.map((t) => t.name).sort()).toEqual(["compare_deployments", "function_stats", "get_incident", "get_request", "get_spike_profile", "hot_functions", "list_deployments", "list_endpoints", "list_incidents", "list_requests", "query"]);
  for (const tool of tools) {
    expect(tool.description?.length ?? 0, tool.name).toBeGreaterThan(80);
    expect(tool.outputSchema, tool.name).toBeDefined();
  }
  const schemaOf = (name: string) => ajv.compile(tools.find((t) => t.name === name)?.outputSchema as object);
  const results: Record<string, Record<string, unknown>> = {};
  const call = async (name: string, args: Record<string, unknown>) => {
    const answer = await client.callTool({ name, arguments: args });
    expect(answer.isError ?? false, `${name}: ${JSON.stringify(answer.content)}`).toBe(false);
    const validate = schemaOf(name);
    expect(validate(answer.structuredContent), `${name}: ${JSON.stringify(validate.errors)}`).toBe(true);
    results[name] = answer.structuredContent as Record<string, unknown>;
    return results[name];
  };
  const listed = (await call("list_incidents", { since: "1h" })) as { incidents: Array<{ id: string; kind: string; culprit: { name: string } | null }> };
  const spike = listed.incidents.find((i) => i.kind === "cpu_spike");
  expect(spike, JSON.stringify(listed)).toBeDefined();
  await call("get_incident", { id: spike?.id });
  await call("get_spike_profile", { id: spike?.id });
  await call("hot_functions", { service: "shop", since: "1h" });
  await call("function_stats", { function: spike?.culprit?.name ?? "", since: "1h" });
  await call("list_deployments", {});
  // The fixture serves GET / under load: timed inside it, with latency.
  const served = (await call("list_endpoints", { since: "1h", service: "shop" })) as { endpoints: Array<{ method: string; route: string; calls: number; p95Ms: number }> };
  expect(served.endpoints[0]).toMatchObject({ method: "GET", route: "/" });
  expect(served.endpoints[0]?.calls).toBeGreaterThan(100);
  expect(served.endpoints[0]?.p95Ms).toBeGreaterThan(0);
  await call("compare_deployments", { from: "v1", to: "v2", service: "shop" });
  // (Kept requests with content are read through MCP in requests.test.ts.)
  await call("list_requests", { since: "1h" });
  await call("query", { sql: "SELECT deployment, COUNT(*) AS windows FROM windows GROUP BY deployment ORDER BY deployment" });

  // The same data as resources: the list, one incident, its triage brief.
  const { resources } = await client.listResources();
  expect(resources.map((r) => r.uri)).toEqual(expect.arrayContaining(["seismo://incidents", `seismo://incidents/${spike?.id}`, `seismo://triage/${spike?.id}`]));
  const incident = await client.readResource({ uri: `seismo://incidents/${spike?.id}` });
  expect(JSON.parse((incident.contents[0] as { text: string }).text)).toMatchObject({ id: spike?.id, kind: "cpu_spike" });
  const brief = await client.readResource({ uri: `seismo://triage/${spike?.id}` });
  expect(brief.contents[0]).toMatchObject({ mimeType: "text/markdown" });
  expect((brief.contents[0] as { text: string }).text).toContain("## Culprit");
  return results;
}

describe("seismo mcp", () => {
  it("over stdio: every tool answers with structured results that validate against their schemas, pointing at code", async () => {
    const client = new Client({ name: "seismo-test", version: "1.0.0" });
    await client.connect(new StdioClientTransport({ command: process.execPath, args: [SEISMO, "mcp", "--db", db], stderr: "pipe" }));
    try {
      const results = await exercise(client);
      const incident = results.get_incident as { incident: { culprits: Array<{ name: string; appFrame: { file: string; line: number } | null }> }; snapshots: Array<{ values: Record<string, unknown> }>; nextStep: string };
      const [culprit] = incident.incident.culprits;
      expect(culprit?.appFrame?.file).toMatch(/spike-app\.cjs$/);
      expect(incident.nextStep).toContain(`${culprit?.appFrame?.file}:${culprit?.appFrame?.line}`);
      const profile = results.get_spike_profile as { stacks: Array<{ frames: Array<{ name: string }>; share: number }>; burst: { samples: number } };
      expect(profile.stacks.length).toBeGreaterThan(0);
      expect(profile.burst.samples).toBeGreaterThan(100);

      // The same spike exported as pprof, decoded back: its heaviest functions are the spike's.
      const spikeId = (results.list_incidents as { incidents: Array<{ id: string; kind: string }> }).incidents.find((i) => i.kind === "cpu_spike")?.id ?? "";
      const file = join(tempDir(), "spike.pb.gz");
      const exported = await seismoRun(["profile", spikeId, "-o", file, "--db", db]);
      expect(exported.stdout, exported.stderr).toMatch(/as pprof/);
      const pprof = Profile.decode(gunzipSync(readFileSync(file)));
      const text = (i: number | bigint): string => pprof.stringTable.strings[Number(i)] ?? "";
      expect(pprof.sampleType.map((t) => `${text(t.type)}/${text(t.unit)}`)).toEqual(["samples/count", "cpu/nanoseconds"]);
      const nameOfLocation = new Map(pprof.location.map((l) => [Number(l.id), text(pprof.function.find((f) => f.id === l.line[0]?.functionId)?.name ?? 0)]));
      const selfNs = new Map<string, number>();
      for (const sample of pprof.sample) {
        const leaf = nameOfLocation.get(Number(sample.locationId[0])) ?? "";
        selfNs.set(leaf, (selfNs.get(leaf) ?? 0) + Number(sample.value[1]));
      }
      const pprofTop = [...selfNs].sort((a, b) => b[1] - a[1]).map(([name]) => name);
      const heaviestLeaf = profile.stacks[0]?.frames.at(-1)?.name;
      expect(pprofTop.slice(0, 3), JSON.stringify(profile.stacks[0])).toContain(heaviestLeaf);
      const samples = pprof.sample.reduce((sum, s) => sum + Number(s.value[0]), 0);
      expect(samples).toBeGreaterThan(profile.burst.samples * 0.5);
      const hot = results.hot_functions as { windows: number; functions: Array<{ samples: number; file: string | null }> };
      expect(hot.windows).toBeGreaterThan(5);
      expect(hot.functions.some((f) => f.file?.endsWith("spike-app.cjs"))).toBe(true);
      const stats = results.function_stats as { byDeployment: Array<{ deployment: string }> };
      expect(stats.byDeployment.map((d) => d.deployment)).toContain("v1");
      expect((results.list_deployments as { deployments: Array<{ deployment: string }> }).deployments.map((d) => d.deployment)).toEqual(["v1", "v2"]);
      expect((results.query as { rows: unknown[][] }).rows.map((r) => r[0])).toEqual(["v1", "v2"]);

      // query: reads only, a row limit, a time limit.
      for (const sql of ["DELETE FROM windows", "ATTACH DATABASE '/tmp/x.db' AS x", "PRAGMA journal_mode = DELETE", "SELECT 1; DELETE FROM windows", "CREATE TABLE t (x)"]) {
        const refused = await client.callTool({ name: "query", arguments: { sql } });
        expect(refused.isError, sql).toBe(true);
      }
      const many = await client.callTool({ name: "query", arguments: { sql: "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 2000) SELECT x FROM n" } });
      expect(many.structuredContent).toMatchObject({ truncated: true });
      expect((many.structuredContent as { rows: unknown[] }).rows).toHaveLength(500);
      // 500 rows of 40,000 characters (20 MB) come back as about 1 MB: each cell cut and marked, rows past 1 MB left out.
      const huge = await client.callTool({ name: "query", arguments: { sql: "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 500) SELECT x, hex(zeroblob(20000)) AS blob FROM n" } });
      const cut = huge.structuredContent as { rows: Array<[number, string]>; truncated: boolean; cutForSize: boolean };
      expect(cut).toMatchObject({ truncated: true, cutForSize: true });
      expect(cut.rows.length).toBeGreaterThan(100);
      expect(cut.rows.length).toBeLessThan(500);
      expect(cut.rows[0]?.[1]).toMatch(/^0{4096}… \[cut: 35904 more characters\]$/);
      expect(JSON.stringify(huge).length).toBeLessThan(3_000_000);
      // Two at a time: a third while two run is refused at once, saying why; the two are stopped at 5 s.
      const started = Date.now();
      const runawaySql = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT COUNT(*) FROM n";
      const runaways = [client.callTool({ name: "query", arguments: { sql: runawaySql } }), client.callTool({ name: "query", arguments: { sql: runawaySql } })];
      const third = await client.callTool({ name: "query", arguments: { sql: "SELECT 1" } });
      expect(third.isError).toBe(true);
      expect(JSON.stringify(third.content)).toMatch(/2 queries are running already \(at most 2 at once\)/);
      for (const runaway of await Promise.all(runaways)) {
        expect(runaway.isError).toBe(true);
        expect(JSON.stringify(runaway.content)).toMatch(/longer than 5000 ms and was stopped/);
      }
      expect(Date.now() - started).toBeLessThan(9_000);
      // The database was not touched.
      expect(((await client.callTool({ name: "query", arguments: { sql: "SELECT COUNT(*) FROM windows" } })).structuredContent as { rows: number[][] }).rows[0]?.[0]).toBeGreaterThan(5);
    } finally {
      await client.close();
    }
  }, 60_000);

  it("over streamable HTTP: the same tools behind a bearer token that never shows in ps; no token, a wrong or weak one, another Host or Origin is refused", async () => {
    const server = seismo(["mcp", "--http", "0", "--db", db], { SEISMO_MCP_TOKEN: TOKEN });
    const port = Number((await server.waitFor(/at http:\/\/127\.0\.0\.1:(\d+)\/mcp/, 15_000))[1]);
    expect(readFileSync(`/proc/${server.pid}/cmdline`, "utf8")).not.toContain(TOKEN);
    const url = new URL(`http://127.0.0.1:${port}/mcp`);
    const init = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "x", version: "1" } } };
    for (const authorization of [undefined, "Bearer wrong-token-0123456789ab", `Basic ${TOKEN}`]) {
      const answer = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...(authorization ? { authorization } : {}) },
        body: JSON.stringify(init),
      });
      expect(answer.status, authorization).toBe(401);
    }
    const client = new Client({ name: "seismo-test", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers: { Authorization: `Bearer ${TOKEN}` } } }));
    try {
      await exercise(client);
    } finally {
      await client.close();
    }
    // DNS rebinding: a page on another site reaches 127.0.0.1 under its own name, and says where it comes from.
    const status = (headers: Record<string, string>): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = request({ host: "127.0.0.1", port, path: "/mcp", method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream", authorization: `Bearer ${TOKEN}`, ...headers } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
        req.end(JSON.stringify(init));
      });
    expect(await status({ host: `rebind.attacker.example:${port}` })).toBe(403);
    expect(await status({ host: `127.0.0.1:${port}`, origin: "http://rebind.attacker.example" })).toBe(403);
    expect(await status({ host: `localhost:${port}`, origin: `http://localhost:${port}` })).toBe(200);
    // Without a token, with a weak one, or with one on the command line, it does not start at all.
    const tokenless = seismo(["mcp", "--http", "0", "--db", db], { SEISMO_MCP_TOKEN: "" });
    expect((await tokenless.exited).code).toBe(2);
    expect(tokenless.stderr()).toMatch(/Give a bearer token/);
    const weak = seismo(["mcp", "--http", "0", "--db", db], { SEISMO_MCP_TOKEN: "a".repeat(32) });
    expect((await weak.exited).code).toBe(2);
    expect(weak.stderr()).toMatch(/too predictable/);
    const inArgv = seismo(["mcp", "--http", "0", "--token", TOKEN, "--db", db]);
    expect((await inArgv.exited).code).toBe(2);
    expect(inArgv.stderr()).toMatch(/--token is not taken: a token on the command line is visible to every user in `ps`/);
    const open = seismo(["mcp", "--http", "0", "--host", "0.0.0.0", "--db", db], { SEISMO_MCP_TOKEN: TOKEN });
    expect((await open.exited).code).toBe(2);
    expect(open.stderr()).toMatch(/Refusing to serve production data over plain HTTP on 0\.0\.0\.0/);
    // From a file only it may read.
    const tokenFile = join(tempDir(), "mcp-token");
    writeFileSync(tokenFile, `${TOKEN}\n`);
    chmodSync(tokenFile, 0o644);
    const shared = seismo(["mcp", "--http", "0", "--token-file", tokenFile, "--db", db], { SEISMO_MCP_TOKEN: "" });
    expect((await shared.exited).code).toBe(2);
    expect(shared.stderr()).toMatch(/can be read by other users: chmod 600/);
    server.child.kill("SIGTERM");
    expect((await server.exited).code).toBe(0);
  }, 60_000);
});

describe("seismo triage", () => {
  it("names the culprit, the app line to open and the evidence, with the captured values and what to check next", async () => {
    const json = await seismoRun(["triage", "--latest", "--json", "--db", db]);
    expect(json.code, json.stderr).toBe(0);
    const brief = JSON.parse(json.stdout) as { id: string; kind: string; open: string | null; culprit: { name: string; appFrame: { name: string; file: string; line: number } | null }; next: string[]; markdown: string };
    expect(brief.kind).toBe("cpu_spike");
    const app = brief.culprit.appFrame;
    expect(app?.file).toMatch(/spike-app\.cjs$/);
    expect(brief.open).toBe(`${app?.file}:${app?.line}`);
    expect(brief.next.length).toBeGreaterThanOrEqual(2);

    const text = await seismoRun(["triage", brief.id, "--db", db]);
    expect(text.code, text.stderr).toBe(0);
    const md = text.stdout;
    for (const heading of ["## Evidence", "## Culprit", "## Captured values", "## What changed since the last deployment", "## What to check next"]) expect(md).toContain(heading);
    expect(md).toContain(brief.culprit.name);
    expect(md).toContain(`\`${brief.open}\``);
    expect(md).toMatch(/\d+ samples at \d+ µs/);
    expect(md).toMatch(/CPU peaked at [\d.]+ cores/);
    // The first deployment has none before it.
    expect(md).toContain("No earlier deployment of this service to compare with.");
    const bad = await seismoRun(["triage", "--db", db]);
    expect(bad.code).toBe(2);
  });
});

describe("seismo heads-up", () => {
  it("lists the spike as a quick win with the line to open, prints Markdown, and posts JSON or Slack text to a webhook", async () => {
    const receiver = await startWebhookReceiver();
    const { bodies, url } = receiver;
    try {
      const json = await seismoRun(["heads-up", "--since", "1h", "--json", "--webhook", url, "--db", db]);
      expect(json.code, json.stderr).toBe(0);
      const report = JSON.parse(json.stdout) as { schema: string; quickWins: Array<{ kind: string; open: string | null; culprit: string | null }>; regressions: unknown[]; newHotFunctions: unknown[] };
      expect(report.schema).toBe("seismo.heads-up.v1");
      expect(report.quickWins.map((w) => w.kind)).toContain("cpu_spike");
      expect(report.quickWins[0]?.open).toMatch(/spike-app\.cjs:\d+$/);
      // The hour before had no windows: nothing is "new".
      expect(report.newHotFunctions).toEqual([]);
      expect(bodies[0]).toEqual(report);

      const slack = await seismoRun(["heads-up", "--since", "1h", "--webhook", url, "--webhook-format", "slack", "--db", db]);
      expect(slack.code, slack.stderr).toBe(0);
      expect(slack.stdout).toMatch(/^# Seismo heads-up/);
      expect(slack.stdout).toContain("## Quick wins (culprit already found)");
      expect(bodies[1]).toEqual({ text: `${slack.stdout.trimEnd()}\n` });
    } finally {
      receiver.close();
    }
  });
});
