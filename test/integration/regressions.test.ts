import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv } from "ajv";
import { afterAll, describe, expect, it } from "vitest";
import { requireDatabases } from "../databases.js";
import type { Load, Proc } from "./harness.js";
import { cleanup, FIXTURES, ROOT, seismo, seismoRun, sleep, startFixture, startLoad, startWebhookReceiver, tempDir } from "./harness.js";

/** Every `seismo run` started: stopped with SIGTERM at the end, so that it stops its app too (SIGKILL would orphan it). */
const runs: Proc[] = [];
afterAll(async () => {
  await Promise.all(
    runs.map(async (run) => {
      run.child.kill("SIGTERM");
      await Promise.race([run.exited, sleep(5_000)]);
    }),
  );
  await cleanup();
});

interface RegressionJson {
  id: string;
  kind: string;
  deployment: string;
  previousDeployment: string | null;
  summary: string;
  culprits: Array<{ name: string; share: number; baselineShare: number; change: { kind: string; ratio: number; ciLow: number; ciHigh: number } }>;
}

/** A deployment of the order API under `seismo run`: its own embedded analyzer, all writing one database. */
async function deploy(db: string, label: string, slowFactor: number, webhook: string): Promise<Proc & { port: number }> {
  const run = seismo(
    // Compressed for CI: 1 s windows, 2 ms sampling. bench/regressions.mjs runs the real sizes.
    ["run", "--db", db, "--window", "1s", "--interval", "2", "--no-spikes", "--deployment", label, "--webhook", webhook, "--", process.execPath, join(FIXTURES, "deploy-app.cjs")],
    // Six functions: the comparison normalizes by the typical one, and the median of five unchanged
    // ones moves less from one process to the next than the median of two (measured: with three
    // functions, 2 runs in 9 saw renderInvoice at +11 % and +18 %, normalized by computeTax).
    { UNITS: "6", HELPERS: "3", SLOW_FACTOR: String(slowFactor), NODE_OPTIONS: "" },
  );
  runs.push(run);
  const port = Number((await run.waitFor(/listening (\d+)/, 20_000))[1]);
  await run.waitFor(/attached to pid/, 20_000);
  return { ...run, port };
}

/** The regression checks' log lines of these runs: what each compared and found. */
function checkLines(...runs: Proc[]): string {
  return runs.flatMap((run) => `${run.stdout()}${run.stderr()}`.split("\n").filter((line) => /regression check of/.test(line))).join("\n");
}

async function stop(run: Proc, load: Load): Promise<void> {
  await load.stop();
  run.child.kill("SIGTERM");
  expect((await run.exited).code).toBe(0);
}

describe("a deployment that made one function 30 % slower", () => {
  it("is a regression naming that function only, with a CI above no change, alerted once; identical code under twice the traffic is none", async () => {
    const receiver = await startWebhookReceiver("/alerts");
    const { bodies, url: webhook } = receiver;
    const db = join(tempDir(), "deploys.db");
    try {
      // v1 and v1b: identical code, v1b with twice the traffic, side by side.
      const v1 = await deploy(db, "v1", 1, webhook);
      const loadV1 = startLoad(v1.port, 50, "/");
      const v1b = await deploy(db, "v1b", 1, webhook);
      const loadV1b = startLoad(v1b.port, 100, "/");
      await sleep(45_000);
      // A neighbour takes v1's place, unwatched, so that v2 runs on a machine as
      // busy as v1b's was: contention changes what functions cost relative to each
      // other (a busy sibling hyperthread slows JSON.stringify less than JSON.parse).
      const neighbour = await startFixture("deploy-app.cjs", { env: { UNITS: "6", HELPERS: "3" } });
      const loadNeighbour = startLoad(neighbour.port, 50, "/");
      await Promise.all([stop(v1, loadV1), stop(v1b, loadV1b)]);
      // v2: renderInvoice does 30 % more work, nothing else changed.
      const v2 = await deploy(db, "v2", 1.3, webhook);
      const loadV2 = startLoad(v2.port, 100, "/");
      try {
        // Checks come at 12, 30, 60 and 180 windows. On a quiet machine the first names it (+19 to
        // +34 % in local runs); on a busy CI machine the intervals are wider, and twice the 60-window
        // check still saw it within the noise (once +21 %, 95 % CI +2…+44 %, short of the threshold
        // corrected for every function compared). The wait covers the 180-window check too: under
        // this load the sensor publishes about 0.65 windows a second, so it comes ~280 s in.
        await v2.waitFor(/incident reg-[0-9a-f]{10}: Regression in/, 320_000);
      } catch (error) {
        const diff = await seismoRun(["diff", "--from", "v1b", "--to", "v2", "--all", "--db", db]);
        throw new Error(`${(error as Error).message}\nseismo diff v1b v2:\n${diff.stdout}${diff.stderr}\n${checkLines(v1b, v2)}`);
      }
      // The incident arms a capture of the culprit; its 5 hits come with the next requests.
      await v2.waitFor(/capture \S+ disarmed: 5 of its 5 hit\(s\) captured/, 15_000);
      await stop(v2, loadV2);
      await loadNeighbour.stop();

      // Printed so that a CI log shows what every check found, and how identical code read, pass or fail.
      console.log(checkLines(v1b, v2));
      console.log((await seismoRun(["diff", "--from", "v1", "--to", "v1b", "--all", "--db", db])).stdout);
      const listed = await seismoRun(["incidents", "--db", db, "--since", "1h", "--kind", "regression", "--json"]);
      expect(listed.code, listed.stderr).toBe(0);
      const regressions = JSON.parse(listed.stdout) as RegressionJson[];
      expect(regressions.map((r) => [r.deployment, r.previousDeployment])).toEqual([["v2", "v1b"]]);
      const [regression] = regressions as [RegressionJson];
      expect(regression.culprits.map((c) => c.name)).toEqual(["renderInvoice"]);
      const [culprit] = regression.culprits;
      // Printed so that a CI log shows how close the estimate came, pass or fail.
      console.log(`renderInvoice estimated ${JSON.stringify(culprit?.change)} (true ratio 1.3)`);
      console.log((await seismoRun(["diff", "--from", "v1b", "--to", "v2", "--all", "--db", db])).stdout);
      expect(culprit?.change.ciLow).toBeGreaterThan(1);
      // The true change is +30 %; an estimate from a minute of samples scatters by about ±15 %.
      expect(culprit?.change.ratio).toBeGreaterThanOrEqual(1.1);
      expect(culprit?.change.ratio).toBeLessThan(1.6);
      expect(culprit?.share).toBeGreaterThan(culprit?.baselineShare ?? 1);
      expect(regression.summary).toMatch(/`renderInvoice` \(fixtures\/deploy-app\.cjs\) \+\d+ % \(95 % CI \+\d+…\+\d+ %\)/);

      // The culprit's values, captured on its next calls after the incident opened, without pausing the app.
      const captured = await seismoRun(["snapshots", "--incident", regression.id, "--db", db, "--json"]);
      expect(captured.code, captured.stderr).toBe(0);
      const snapshots = JSON.parse(captured.stdout) as Array<{ functionName: string; trigger: string; locals: Array<{ name: string; type: string }> }>;
      expect(snapshots.length).toBeGreaterThanOrEqual(1);
      expect(snapshots[0]).toMatchObject({ functionName: "renderInvoice", trigger: regression.id });
      expect(snapshots[0]?.locals.find((l) => l.name === "units")).toMatchObject({ type: "number" });
      expect(snapshots[0]?.locals.find((l) => l.name === "order")).toMatchObject({ type: "Array" });
      const shown = await seismoRun(["show", regression.id, "--db", db]);
      expect(shown.stdout).toMatch(/Captured values \(\d+ snapshot\(s\)/);

      // Identical code, twice the traffic: no regression (none opened for v1b, checked above), and
      // no app function slower, new or gone. (Node's own socket writes may change: they batch
      // differently under more traffic.) A "faster" reading is not asserted against: once in eight
      // runs, computeTax read -24 % (z -4.2) on identical code. This fixture's work is JSON
      // parsing, heavy on the garbage collector, and what a step costs per request moves with
      // traffic and with each process's GC. Such a reading never makes a regression or an alert.
      const same = await seismoRun(["diff", "--from", "v1", "--to", "v1b", "--db", db, "--json"]);
      expect(same.code, same.stderr).toBe(0);
      const sameDiff = JSON.parse(same.stdout) as { enough: boolean; changes: Array<{ name: string; file: string; kind: string }> };
      expect(sameDiff.enough).toBe(true);
      const appFunctions = sameDiff.changes.filter((c) => c.file.endsWith("deploy-app.cjs"));
      // The six steps at least; the request handler itself joins them when it has enough samples.
      expect(appFunctions.map((c) => c.name)).toEqual(expect.arrayContaining(["checkStock", "computeTax", "parseOrder", "renderInvoice", "reserveItems", "sendReceipt"]));
      expect(appFunctions.filter((c) => c.kind === "slower" || c.kind === "new" || c.kind === "gone")).toEqual([]);

      // Exactly one alert, for the regression, in the documented shape.
      await sleep(500);
      expect(bodies).toHaveLength(1);
      const ajv = new Ajv({ strict: true });
      ajv.addFormat("date-time", (s: string) => !Number.isNaN(Date.parse(s)));
      const validate = ajv.compile(JSON.parse(readFileSync(join(ROOT, "docs", "alert.schema.json"), "utf8")) as object);
      expect(validate(bodies[0]), JSON.stringify(validate.errors)).toBe(true);
      expect(bodies[0]).toMatchObject({ id: regression.id, kind: "regression", deployment: "v2", previousDeployment: "v1b", culprits: [{ name: "renderInvoice" }] });
    } finally {
      receiver.close();
    }
  }, 480_000);
});

describe("regressions of endpoints and queries", () => {
  it("a deployment whose query waits longer, computing the same: a regression naming the endpoint and the query it waits on, no function", async () => {
    await requireDatabases();
    const db = join(tempDir(), "endpoint-regression.db");
    const deploy = (label: string, waitMs: number) =>
      seismo(["run", "--db", db, "--window", "1s", "--no-spikes", "--deployment", label, "--", process.execPath, join(FIXTURES, "db-app.cjs")], {
        QUERY_WAIT_MS: String(waitMs),
      });
    const v1 = deploy("v1", 3);
    const port1 = Number((await v1.waitFor(/listening (\d+)/, 20_000))[1]);
    await v1.waitFor(/attached to pid/, 20_000);
    const load1 = startLoad(port1, 60, "/orders/7");
    await v1.waitFor(/window 14:/, 30_000);
    await load1.stop();
    v1.child.kill("SIGTERM");
    expect((await v1.exited).code, v1.stderr()).toBe(0);

    const v2 = deploy("v2", 15);
    const port2 = Number((await v2.waitFor(/listening (\d+)/, 20_000))[1]);
    await v2.waitFor(/attached to pid/, 20_000);
    const load2 = startLoad(port2, 60, "/orders/7");
    try {
      await v2.waitFor(/incident reg-[0-9a-f]{10}: Regression in/, 45_000);
    } finally {
      await load2.stop();
      v2.child.kill("SIGTERM");
      await v2.exited;
    }
    const listed = await seismoRun(["incidents", "--db", db, "--since", "1h", "--kind", "regression", "--json"]);
    const [incident] = JSON.parse(listed.stdout) as Array<{ id: string; summary: string; culprits: unknown[]; details: { endpoints: Array<{ direction: string; method: string; route: string; kind: string; ratio: number }> } }>;
    expect(incident?.culprits).toEqual([]);
    expect(incident?.summary).toMatch(
      /`GET \/orders\/:id` mean latency \+\d+ %.* since deployment v2 \(vs v1\), waiting on the query `SELECT \$1::int AS id, \? AS note, pg_sleep\(\?\)` on postgresql:\/\/127\.0\.0\.1:5432\/test mean latency \+\d+ %.*; no function's CPU share changed beyond noise/,
    );
    expect(incident?.details.endpoints[0]).toMatchObject({ direction: "in", method: "GET", route: "/orders/:id", kind: "slower" });
    expect(incident?.details.endpoints[0]?.ratio).toBeGreaterThan(2);
    // The mysql2 query did not change: not named.
    expect(incident?.details.endpoints.map((e) => e.route)).not.toContain("SELECT ? * ? AS doubled");
    const shown = await seismoRun(["triage", incident?.id ?? "", "--db", db]);
    expect(shown.stdout).toMatch(/spent waiting, not computing: check its outgoing calls/);
    const diff = await seismoRun(["diff", "--from", "v1", "--to", "v2", "--db", db]);
    expect(diff.stdout).toMatch(/slower\s+GET \/orders\/:id mean latency \+\d+ %/);
    expect(diff.stdout).toMatch(/slower\s+query SELECT \$1::int AS id, \? AS note, pg_sleep\(\?\) on postgresql/);
  }, 120_000);
});
