import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FunctionStat, ProfileWindow } from "@seismo/agent-proto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { functionStat, sampleEvents } from "../../agent-proto/test/sample-events.js";
import type { Db } from "../src/store/database.js";
import type { CheckRunner } from "../src/regressions/check-runner.js";
import { listDeployments } from "../src/query/deployments.js";
import { listIncidents } from "../src/query/incidents.js";
import { InlineCheckRunner, WorkerCheckRunner } from "../src/regressions/check-runner.js";
import { RegressionWatch } from "../src/regressions/regression-watch.js";
import { openDatabase } from "../src/store/database.js";
import { EventStore } from "../src/store/event-store.js";

const base = sampleEvents.profile.body as ProfileWindow;

function fn(name: string, line: number, selfUs: number): FunctionStat {
  return functionStat({ name, line, selfUs });
}

let seed = 7;
const jitter = (): number => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
  return 1 + 0.2 * (seed / 2_147_483_648 - 0.5);
};

/** One window of a process of `deployment` where renderInvoice costs `render` µs per request. */
function windowOf(deployment: string, pid: number, sequence: number, render: number, lineShift = 0, orderMs = 10): ProfileWindow {
  const functions = [fn("parseOrder", 10 + lineShift, 300 * 100 * jitter()), fn("renderInvoice", 20 + lineShift, render * 100 * jitter()), fn("computeTax", 30 + lineShift, 200 * 100 * jitter())];
  const cpuUs = functions.reduce((s, f) => s + f.selfUs, 0);
  const target = { ...base.target, deployment, targetId: `d:${pid}:1`, pid };
  // 20 requests a window to GET /orders/:id, `orderMs` each on average.
  const endpoints = [{ method: "GET", route: "/orders/:id", status: 200, count: 20, totalMs: 20 * orderMs * jitter(), maxMs: 2 * orderMs, bucketIndexes: [50], bucketCounts: [20], routeTemplate: false, host: "" }];
  return { ...base, target, windowId: `d:${pid}:1:${sequence}`, sequence, startMs: 1_000_000 + pid * 100_000 + sequence * 1_000, endMs: 1_001_000 + pid * 100_000 + sequence * 1_000, cpuUs, functions, endpoints };
}

let dir: string;
let db: Db;
let store: EventStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "seismo-regress-"));
  db = openDatabase(join(dir, "seismo.db"));
  store = new EventStore(db);
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

type Settings = ConstructorParameters<typeof RegressionWatch>[1];

/** A watch whose incidents are collected as they are stored. */
function watchWith(settings: Settings, runner?: CheckRunner): { watch: RegressionWatch; ids: string[]; checked: string[] } {
  const ids: string[] = [];
  const checked: string[] = [];
  const watch = new RegressionWatch(db, settings, runner ?? new InlineCheckRunner(db), { onIncident: (id) => ids.push(id), onChecked: (line) => checked.push(line) });
  return { watch, ids, checked };
}

/** Stores the windows as the ingest does, one check queued at each checkpoint; resolves with the incidents the checks stored. */
async function feed(w: { watch: RegressionWatch; ids: string[] }, windows: ProfileWindow[]): Promise<string[]> {
  const before = w.ids.length;
  for (const window of windows) {
    store.recordWindow(window, 0);
    w.watch.onWindow(window);
  }
  await w.watch.idle();
  return w.ids.slice(before);
}

describe("regression watch", () => {
  it("opens one regression incident for the deployment that made one function 30 % slower, and updates it at later checks", async () => {
    const watch = watchWith({ checkAtWindows: [12, 30], thenEvery: 100, driftEvery: 1_000, driftMinBaseline: 1_000 });
    await feed(watch, Array.from({ length: 40 }, (_, i) => windowOf("v1", 1, i, 500)));
    // v2 moved every function down 7 lines: the identity must not care.
    const ids = await feed(watch, Array.from({ length: 30 }, (_, i) => windowOf("v2", 2, i, 650, 7)));
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(1);
    const incidents = listIncidents(db, { sinceMs: 0 });
    expect(incidents).toHaveLength(1);
    const [incident] = incidents;
    expect(incident).toMatchObject({ kind: "regression", deployment: "v2", previousDeployment: "v1" });
    expect(incident?.culprits.map((c) => c.name)).toEqual(["renderInvoice"]);
    expect(incident?.culprits[0]?.share).toBeGreaterThan(incident?.culprits[0]?.baselineShare ?? 1);
    expect(incident?.summary).toMatch(/`renderInvoice` .* \+\d+ % \(95 % CI \+\d+…\+\d+ %\) .*since deployment v2 \(vs v1\), 30 windows vs 40/);
    expect(listDeployments(db).map((d) => d.deployment)).toEqual(["v1", "v2"]);
    // Every check says what it compared and found, in the log.
    expect(watch.checked).toHaveLength(2);
    expect(watch.checked[1]).toMatch(/^regression check of shop v2 vs v1 \(30 windows vs 40\): 1 culprit\(s\), first renderInvoice \+\d+ % \(95 % CI/);
  });

  it("says nothing for a redeploy of identical code", async () => {
    const watch = watchWith({ checkAtWindows: [12, 30], thenEvery: 100, driftEvery: 1_000, driftMinBaseline: 1_000 });
    await feed(watch, Array.from({ length: 40 }, (_, i) => windowOf("v1", 1, i, 500)));
    expect(await feed(watch, Array.from({ length: 30 }, (_, i) => windowOf("v1b", 2, i, 500)))).toEqual([]);
    expect(listIncidents(db, { sinceMs: 0 })).toEqual([]);
    // The log still says what the checks compared, and the strongest change with its interval.
    expect(watch.checked).toHaveLength(2);
    expect(watch.checked[1]).toMatch(/^regression check of shop v1b vs v1 \(30 windows vs 40\): no regression; strongest change \w+ [+-]\d+ % \(95 % CI [+-]\d+…[+-]\d+ %\)$/);
  });

  it("opens a regression for an endpoint that got 2.4x slower while no function's CPU changed: the time went to waiting", async () => {
    const watch = watchWith({ checkAtWindows: [12, 30], thenEvery: 100, driftEvery: 1_000, driftMinBaseline: 1_000 });
    await feed(watch, Array.from({ length: 40 }, (_, i) => windowOf("v1", 1, i, 500, 0, 10)));
    const ids = await feed(watch, Array.from({ length: 30 }, (_, i) => windowOf("v2", 2, i, 500, 0, 24)));
    expect(new Set(ids).size).toBe(1);
    const [incident] = listIncidents(db, { sinceMs: 0 });
    expect(incident).toMatchObject({ kind: "regression", deployment: "v2", previousDeployment: "v1", culprits: [] });
    expect(incident?.summary).toMatch(/^Regression in shop: `GET \/orders\/:id` mean latency \+\d+ % \(95 % CI \+\d+…\+\d+ %\), 10\.\d → 2\d\.\d ms since deployment v2 \(vs v1\); no function's CPU share changed beyond noise/);
    expect(incident?.kind === "regression" && incident.details.endpoints?.[0]).toMatchObject({ method: "GET", route: "/orders/:id", kind: "slower", callsA: 800, callsB: 600 });
    expect(watch.checked.at(-1)).toMatch(/no function beyond noise; endpoints: `GET \/orders\/:id` mean latency \+/);
  });

  it("opens a drift incident when a function got slower with no deployment, once per function, and none while it is steady", async () => {
    const watch = watchWith({ checkAtWindows: [], thenEvery: 1_000, driftEvery: 100, driftMinBaseline: 100 });
    expect(await feed(watch, Array.from({ length: 200 }, (_, i) => windowOf("v1", 1, i, 500)))).toEqual([]);
    const ids = await feed(watch, Array.from({ length: 200 }, (_, i) => windowOf("v1", 1, 200 + i, 700)));
    expect(ids.length).toBeGreaterThanOrEqual(1);
    const incidents = listIncidents(db, { sinceMs: 0 });
    expect(incidents).toHaveLength(1);
    const [drift] = incidents;
    expect(drift).toMatchObject({ kind: "regression", deployment: "v1", previousDeployment: "v1" });
    expect(drift?.details).toMatchObject({ cause: "drift" });
    expect(drift?.culprits.map((c) => c.name)).toEqual(["renderInvoice"]);
    expect(drift?.summary).toMatch(/^Drift in shop: `renderInvoice` .* \+\d+ % .* with no deployment \(vs the \d+ windows before\)/);
  });

  it("runs its checks on a worker thread with a read-only connection, off the ingest path, with the same result", async () => {
    // The compiled worker (npm test builds before it tests): TypeScript sources cannot start one.
    const runner = WorkerCheckRunner.create(join(dir, "seismo.db"), new URL("../dist/regressions/check-worker.js", import.meta.url));
    expect(runner, "build first: npm run build").toBeDefined();
    const watch = watchWith({ checkAtWindows: [12, 30], thenEvery: 100, driftEvery: 1_000, driftMinBaseline: 1_000 }, runner);
    await feed(watch, Array.from({ length: 40 }, (_, i) => windowOf("v1", 1, i, 500)));
    const queued = Array.from({ length: 30 }, (_, i) => windowOf("v2", 2, i, 650));
    for (const window of queued) {
      store.recordWindow(window, 0);
      watch.watch.onWindow(window);
    }
    // onWindow only queued the checks: nothing is decided on the ingest's turn.
    expect(watch.watch.backlog).toBe(2);
    expect(watch.ids).toEqual([]);
    await watch.watch.idle();
    expect(watch.ids).toHaveLength(2);
    expect(listIncidents(db, { sinceMs: 0 })[0]?.culprits.map((c) => c.name)).toEqual(["renderInvoice"]);
    await watch.watch.close();
    // A closed runner refuses work, and the watch says so rather than throwing into the ingest.
    const errors: string[] = [];
    const closed = new RegressionWatch(db, { checkAtWindows: [1], thenEvery: 1_000, driftEvery: 1_000, driftMinBaseline: 1_000 }, runner, { onError: (m) => errors.push(m) });
    const late = windowOf("v3", 3, 0, 500);
    store.recordWindow(late, 0);
    closed.onWindow(late);
    await closed.idle();
    expect(errors[0]).toMatch(/regression check of shop v3 failed/);
  });
});
