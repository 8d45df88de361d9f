import { afterAll, afterEach, describe, expect, it } from "vitest";
import { join } from "node:path";
import Database from "better-sqlite3";
import { eventually } from "../eventually.js";
import type { Load, Proc, WebhookReceiver } from "./harness.js";
import { cleanup, seismo, seismoRun, sleep, startFixture, startLoad, startWebhookReceiver, tempDir } from "./harness.js";

/**
 * Traffic is not an incident (issue 17): the daemon sees CPU rise and takes a burst each time
 * (asserted: the hard case happened), and the analyzer judges it load or ordinary, with no
 * incident and no webhook call; a crafted-input spike that arrives with more traffic is still
 * opened and named.
 */

interface SpikeRow {
  spike_id: string;
  verdict: string | null;
  verdict_reason: string | null;
  onset_ms: number;
}

function spikes(db: string): SpikeRow[] {
  const connection = new Database(db, { readonly: true, fileMustExist: true });
  try {
    return connection.prepare("SELECT spike_id, verdict, verdict_reason, onset_ms FROM spikes ORDER BY onset_ms").all() as SpikeRow[];
  } finally {
    connection.close();
  }
}

function incidentCount(db: string): number {
  const connection = new Database(db, { readonly: true, fileMustExist: true });
  try {
    return (connection.prepare("SELECT COUNT(*) AS n FROM incidents").get() as { n: number }).n;
  } catch {
    return 0;
  } finally {
    connection.close();
  }
}

/** Waits until the daemon saw a spike after `sinceMs` and the analyzer judged it (not pending). */
async function judgedSpike(db: string, sinceMs: number, sensor: Proc, timeoutMs = 60_000): Promise<SpikeRow> {
  return eventually(
    () => {
      let rows: SpikeRow[] = [];
      try {
        rows = spikes(db);
      } catch {
        return undefined;
      }
      return rows.find((r) => r.onset_ms >= sinceMs - 1_000 && r.verdict !== null && r.verdict !== "pending");
    },
    {
      timeoutMs,
      everyMs: 500,
      explain: () => {
        let rows = "";
        try {
          rows = JSON.stringify(spikes(db), null, 1);
        } catch (error) {
          rows = String(error);
        }
        const printed = (sensor.stdout() + sensor.stderr())
          .split("\n")
          .filter((line) => !/\] window \d+:/.test(line))
          .join("\n");
        return `no judged spike since ${new Date(sinceMs).toISOString()}; spikes: ${rows}\nthe sensor printed (window lines left out):\n${printed.slice(-3_000)}`;
      },
    },
  );
}

async function attach(pid: number, db: string, webhook: string): Promise<Proc> {
  const sensor = seismo(["attach", String(pid), "--db", db, "--window", "1s", "--burst-duration", "1500ms", "--burst-cooldown", "2s", "--webhook", webhook]);
  await sensor.waitFor(/attached to pid/, 15_000);
  return sensor;
}

const PRODUCTS = "/products?category=toys&page=1";

describe("traffic is not an incident", () => {
  // Each scenario's load, app and sensor end with it: four apps still serving would leave no
  // CPU for the next one to rise into.
  let loads: Load[] = [];
  let procs: Proc[] = [];
  let closers: Array<() => void> = [];
  afterEach(async () => {
    for (const load of loads) await load.stop();
    for (const proc of procs) proc.child.kill("SIGKILL");
    await Promise.all(procs.map((proc) => proc.exited));
    for (const close of closers) close();
    loads = [];
    procs = [];
    closers = [];
  });
  afterAll(cleanup);

  /** The storefront (or its worker) with a sensor attached that alerts a webhook receiver of the test's own. */
  async function scenario(name: string, env: Record<string, string> = {}): Promise<{ hook: WebhookReceiver; db: string; app: Proc & { port: number }; sensor: Proc }> {
    const hook = await startWebhookReceiver();
    const db = join(tempDir(), `${name}.db`);
    const app = await startFixture("storefront-app.cjs", { env });
    const sensor = await attach(app.pid, db, hook.url);
    procs.push(sensor, app);
    closers.push(() => hook.close());
    return { hook, db, app, sensor };
  }

  /** What `seismo incidents` says of the database: the culprits of an incident that should not be. */
  async function pagedAs(db: string): Promise<string> {
    const listed = await seismoRun(["incidents", "--db", db, "--json"]);
    return listed.stdout + listed.stderr;
  }

  function expectNothingPaged(db: string, hook: WebhookReceiver): void {
    expect(incidentCount(db)).toBe(0);
    expect(hook.bodies).toEqual([]);
  }

  /**
   * The scenario's service, idle for `idleMs` (the time is the scenario), then 450 requests/s of
   * its usual traffic: the spike that follows, once judged. At 300 a run's windows read 0.24 to
   * 0.40 cores, at the detector's 0.3-core rise: no spike, so no scenario.
   */
  async function trafficAfterIdle(name: string, idleMs: number) {
    const { hook, db, app, sensor } = await scenario(name);
    await sleep(idleMs);
    const arrivedMs = Date.now();
    loads.push(startLoad(app.port, 450, PRODUCTS));
    return { hook, db, spike: await judgedSpike(db, arrivedMs, sensor) };
  }

  it("an idle service, then its usual traffic: the spike waits for busy windows, is judged load, nothing is paged", async () => {
    const { hook, db, spike } = await trafficAfterIdle("arrival", 10_000);
    expect(spike.verdict, `${spike.verdict_reason ?? ""}\n${await pagedAs(db)}`).toBe("load");
    expect(spike.verdict_reason).toMatch(/traffic arrived \(0\.0 → \d+ requests\/s/);
    expectNothingPaged(db, hook);
    const listed = await seismoRun(["incidents", "--db", db]);
    expect(listed.stdout).toMatch(/No incidents since/);
    expect(listed.stdout).toMatch(/Not incidents: \d+ load change\(s\)[\s\S]*traffic arrived/);
  }, 90_000);

  it("a sidecar attached a few seconds before the traffic starts: nothing is paged", async () => {
    const { hook, db, spike } = await trafficAfterIdle("early", 4_000);
    expect(["load", "ordinary"], `${spike.verdict_reason ?? ""}\n${await pagedAs(db)}`).toContain(spike.verdict);
    expectNothingPaged(db, hook);
  }, 90_000);

  it("a busy service whose traffic steps up tenfold: load, with the rates, nothing is paged", async () => {
    const { hook, db, app, sensor } = await scenario("step");
    const load = startLoad(app.port, 40, PRODUCTS);
    loads.push(load);
    await sleep(15_000);
    const steppedMs = Date.now();
    load.setRate(400);
    const spike = await judgedSpike(db, steppedMs, sensor);
    expect(spike.verdict, spike.verdict_reason ?? "").toBe("load");
    expect(spike.verdict_reason).toMatch(/requests rose \d+(\.\d)?× \(\d+ → \d+ requests\/s, CPU per request/);
    expectNothingPaged(db, hook);
  }, 90_000);

  it("a crafted-input spike arriving with a traffic rise is still an incident, naming the function", async () => {
    const { hook, db, app, sensor } = await scenario("crafted");
    const load = startLoad(app.port, 60, PRODUCTS);
    loads.push(load, startLoad(app.port, 10, "/search?q=garden%20tools"));
    await sleep(12_000);
    const startedMs = Date.now();
    load.setRate(200);
    loads.push(startLoad(app.port, 6, `/search?q=${"a".repeat(24)}!`));
    const spike = await judgedSpike(db, startedMs, sensor);
    expect(spike.verdict, spike.verdict_reason ?? "").toBe("incident");
    const listed = await seismoRun(["incidents", "--db", db, "--json"]);
    const [incident] = JSON.parse(listed.stdout) as Array<{ culprits: Array<{ name: string; appFrame: { name: string; file: string } | null }> }>;
    expect(incident?.culprits[0]?.name).toBe("isSearchable");
    expect(incident?.culprits[0]?.appFrame?.file).toMatch(/storefront-app\.cjs$/);
    await eventually(() => (hook.bodies.length > 0 ? true : undefined), { timeoutMs: 10_000, explain: () => "the webhook was not called" });
  }, 90_000);

  it("a worker with no HTTP whose job rate steps up tenfold: nothing is paged", async () => {
    // A job costs ~0.75 ms here: 40 → 400 jobs/s measured 0.05 → 0.32 cores, a rise under the
    // detector's 0.3-core floor on a quiet machine (CI failed so: no spike at all). 90 → 900
    // measured 0.08 → 0.69 cores, well over it.
    const { hook, db, app, sensor } = await scenario("worker", { WORKER: "1", JOBS_PER_SECOND: "90" });
    await sleep(12_000);
    const steppedMs = Date.now();
    process.kill(app.pid, "SIGUSR2");
    await app.waitFor(/jobs 900/);
    const spike = await judgedSpike(db, steppedMs, sensor);
    expect(["load", "ordinary"], spike.verdict_reason ?? "").toContain(spike.verdict);
    expectNothingPaged(db, hook);
  }, 90_000);
});
