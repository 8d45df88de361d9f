import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../eventually.js";
import type { Load, Proc } from "./harness.js";
import { cleanup, httpGet, seismo, seismoRun, sleep, startFixture, startLoad, tempDir } from "./harness.js";
import { join } from "node:path";
import Database from "better-sqlite3";

interface IncidentJson {
  id: string;
  kind: string;
  service: string;
  startedAt: string;
  endedAt: string | null;
  summary: string;
  culprits: Array<{
    name: string;
    file: string | null;
    line: number | null;
    package: string | null;
    packageVersion: string | null;
    share: number;
    baselineShare: number;
    builtin: boolean;
    appFrame: { name: string; file: string; line: number } | null;
    callers: Array<{ name: string }>;
  }>;
  details: { trigger: string; burst: { startedAt: string; endedAt: string; samplingIntervalUs: number; samples: number } };
}

async function incidents(db: string): Promise<IncidentJson[]> {
  const result = await seismoRun(["incidents", "--db", db, "--since", "1h", "--json"]);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as IncidentJson[];
}

function storedSpikes(db: string): string {
  const connection = new Database(db, { readonly: true });
  try {
    const rows = connection
      .prepare("SELECT trigger, onset_ms, detected_ms, burst_start_ms, max_stall_ms, peak_cpu, baseline_cpu, verdict, verdict_reason, burst_error FROM spikes ORDER BY onset_ms")
      .all();
    return JSON.stringify(rows, null, 1);
  } finally {
    connection.close();
  }
}

/** Polls until an incident that started at or after `sinceMs` is queryable. */
function nextIncident(db: string, sinceMs: number, sensorLog: () => string, timeoutMs = 15_000): Promise<IncidentJson> {
  return eventually(async () => (await incidents(db)).find((i) => Date.parse(i.startedAt) >= sinceMs - 1_000), {
    timeoutMs,
    everyMs: 300,
    // The sensor's log and the stored spikes say whether it saw the spike, took a burst, or judged it ordinary.
    explain: () => `no incident; spikes stored: ${storedSpikes(db)}\nthe sensor printed:\n${sensorLog().slice(-4_000)}`,
  });
}

const APP = join(import.meta.dirname, "..", "fixtures", "spike-app.cjs");

describe("CPU spikes, under steady HTTP load, each named by its culprit", () => {
  const db = join(tempDir(), "spikes.db");
  let app: Proc & { port: number };
  let sensor: Proc;
  let load: Load;

  beforeAll(async () => {
    app = await startFixture("spike-app.cjs", { env: { CATALOG_SIZE: "1000" } });
    load = startLoad(app.port, 100);
    sensor = seismo(["attach", String(app.pid), "--db", db, "--window", "1s", "--burst-duration", "1500ms", "--burst-cooldown", "2s"]);
    await sensor.waitFor(/attached to pid/, 15_000);
    // A few normal windows for the baseline, and readings for the learned level.
    await sleep(7_000);
  }, 30_000);

  afterAll(async () => {
    await load.stop();
    await cleanup();
  });

  async function spike(kind: string): Promise<{ incident: IncidentJson; onsetMs: number; queryableAfterMs: number }> {
    const before = app.stdout().length;
    const answer = await fetch(`http://127.0.0.1:${app.port}/admin/spike?kind=${kind}&ms=3500`, { method: "POST" });
    expect(answer.status).toBe(200);
    const onset = await app.waitFor(new RegExp(`spike ${kind} (\\d+)`), 5_000);
    const onsetMs = Number(onset[1]);
    const incident = await nextIncident(db, onsetMs, () => sensor.stdout() + sensor.stderr());
    const queryableAfterMs = Date.now() - onsetMs;
    // Let the spike end and the cool-down pass before the next one.
    await app.waitFor(new RegExp(`spike-end ${kind}`), 10_000);
    expect(app.stdout().length).toBeGreaterThan(before);
    await sleep(3_000);
    return { incident, onsetMs, queryableAfterMs };
  }

  it("a catastrophic regular expression in app code: the app function, its regex named", async () => {
    const { incident, queryableAfterMs } = await spike("regex");
    const [top] = incident.culprits;
    expect(incident.kind).toBe("cpu_spike");
    expect(top).toMatchObject({ name: "isValidSlug", file: APP, package: null, builtin: false });
    expect(top?.share).toBeGreaterThan(0.5);
    expect(top?.baselineShare).toBeLessThan(0.05);
    expect(top?.appFrame?.name).toBe("isValidSlug");
    expect(incident.summary).toMatch(/isValidSlug/);
    expect(queryableAfterMs).toBeLessThan(10_000);
  }, 40_000);

  it("heavy synchronous work inside a real npm dependency: culprit in bcryptjs, app frame = the app's caller", async () => {
    const { incident } = await spike("bcrypt");
    const [top] = incident.culprits;
    expect(top?.package).toBe("bcryptjs");
    expect(top?.packageVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(top?.appFrame).toMatchObject({ name: "hashPassword", file: APP });
    expect(top?.callers.map((c) => c.name)).toContain("hashPassword");
  }, 40_000);

  it("a synchronous loop that blocks the event loop for seconds", async () => {
    const { incident } = await spike("block");
    const [top] = incident.culprits;
    // spinUntil is inlined into reconcileLedger; a burst profiler that starts after the inlining charges the caller.
    expect(["spinUntil", "reconcileLedger"]).toContain(top?.name);
    expect(top?.file).toBe(APP);
    expect(top?.share).toBeGreaterThan(0.5);
  }, 40_000);

  it("JSON.parse/JSON.stringify of a huge payload: a built-in, said so, with the app frame", async () => {
    const { incident } = await spike("json");
    const [top] = incident.culprits;
    expect(top?.builtin).toBe(true);
    expect(top?.name).toMatch(/^JSON\.(parse|stringify)$/);
    expect(top?.appFrame?.name).toBe("step");
    expect(top?.appFrame?.file).toBe(APP);
    expect(incident.summary).toMatch(/built-in JSON\.(parse|stringify)/);
  }, 40_000);

  it("bursts stay within their bound, the app kept serving, and show/profile explain each incident", async () => {
    const all = await incidents(db);
    expect(all.length).toBe(4);
    for (const incident of all) {
      const burstMs = Date.parse(incident.details.burst.endedAt) - Date.parse(incident.details.burst.startedAt);
      expect(burstMs).toBeLessThan(1_500 + 1_000);
      expect(incident.details.burst.samplingIntervalUs).toBe(500);
      expect(incident.details.burst.samples).toBeGreaterThan(500);
    }
    expect(await httpGet(app.port, "/?min=900")).toMatch(/products/);
    expect(load.answered).toBeGreaterThan(1_000);

    const show = await seismoRun(["show", (all[0] as IncidentJson).id.slice(0, 8), "--db", db]);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/of CPU during the spike/);
    expect(show.stdout).toMatch(/app code: step/);

    const file = join(tempDir(), "spike.cpuprofile");
    const exported = await seismoRun(["profile", (all[0] as IncidentJson).id, "-o", file, "--db", db]);
    expect(exported.code, exported.stderr).toBe(0);
    const { readFileSync } = await import("node:fs");
    const profile = JSON.parse(readFileSync(file, "utf8")) as { nodes: Array<{ callFrame: { functionName: string } }>; samples: number[] };
    expect(profile.samples.length).toBeGreaterThan(500);
    expect(profile.nodes.some((n) => n.callFrame.functionName === "step")).toBe(true);
  }, 30_000);

  it("a loop blocked inside a native call (a synchronous child process, no CPU, no interrupt answered): seen, and profiled from the rolling window", async () => {
    const { incident, queryableAfterMs } = await spike("native");
    expect(incident.details.trigger).toBe("LOOP_BLOCKED");
    const [top] = incident.culprits;
    // V8 names the native binding (spawn, or spawnSync on some versions); the app frame is what to open.
    expect(top?.name).toMatch(/^spawn/);
    expect(top?.share).toBeGreaterThan(0.5);
    expect(top?.appFrame).toMatchObject({ name: "exportLedger", file: APP });
    expect(incident.summary).toMatch(/^Event loop blocked on .*exportLedger.*waiting, not computing/);
    // The rolling window's profile, at its interval: a burst could not have started during the call.
    expect(incident.details.burst.samplingIntervalUs).toBe(10_000);
    expect(incident.details.burst.samples).toBeGreaterThan(200);
    expect(queryableAfterMs).toBeLessThan(10_000);
  }, 40_000);
});

describe("no voodoo where there is none", () => {
  afterAll(cleanup);

  it("steady load, then twice the load with the same request mix: no incident", async () => {
    const db = join(tempDir(), "steady.db");
    const app = await startFixture("spike-app.cjs", { env: { CATALOG_SIZE: "5000" } });
    const load = startLoad(app.port, 70);
    const sensor = seismo(["attach", String(app.pid), "--db", db, "--window", "1s", "--burst-cooldown", "5s"]);
    await sensor.waitFor(/attached to pid/, 15_000);
    await sleep(15_000);
    load.setRate(140);
    await sleep(12_000);
    const answered = await load.stop();
    expect(answered).toBeGreaterThan(2_000);
    sensor.child.kill("SIGTERM");
    await sensor.exited;
    expect(await incidents(db)).toEqual([]);
  }, 60_000);
});
