import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FunctionStat, ProfileWindow } from "@seismo/agent-proto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sampleEvents } from "../../agent-proto/test/sample-events.js";
import type { Db } from "../src/index.js";
import { EventStore, listDeployments, listIncidents, openDatabase, RegressionWatch } from "../src/index.js";

const base = sampleEvents.profile.body as ProfileWindow;

function fn(name: string, line: number, selfUs: number): FunctionStat {
  return {
    name,
    scriptUrl: "file:///app/server.js",
    filePath: "/app/server.js",
    line,
    column: 1,
    packageName: "",
    packageVersion: "",
    selfSamples: Math.round(selfUs / 10_000),
    totalSamples: Math.round(selfUs / 10_000),
    selfUs,
    totalUs: selfUs,
    hotLines: [],
  };
}

let seed = 7;
const jitter = (): number => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
  return 1 + 0.2 * (seed / 2_147_483_648 - 0.5);
};

/** One window of a process of `deployment` where renderInvoice costs `render` µs per request. */
function windowOf(deployment: string, pid: number, sequence: number, render: number, lineShift = 0): ProfileWindow {
  const functions = [fn("parseOrder", 10 + lineShift, 300 * 100 * jitter()), fn("renderInvoice", 20 + lineShift, render * 100 * jitter()), fn("computeTax", 30 + lineShift, 200 * 100 * jitter())];
  const cpuUs = functions.reduce((s, f) => s + f.selfUs, 0);
  const target = { ...base.target, deployment, targetId: `d:${pid}:1`, pid };
  return { ...base, target, windowId: `d:${pid}:1:${sequence}`, sequence, startMs: 1_000_000 + pid * 100_000 + sequence * 1_000, endMs: 1_001_000 + pid * 100_000 + sequence * 1_000, cpuUs, functions };
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

function feed(watch: RegressionWatch, windows: ProfileWindow[]): string[] {
  const ids: string[] = [];
  for (const w of windows) {
    store.recordWindow(w, 0);
    const id = watch.onWindow(w);
    if (id) ids.push(id);
  }
  return ids;
}

describe("regression watch", () => {
  it("opens one regression incident for the deployment that made one function 30 % slower, and updates it at later checks", () => {
    const watch = new RegressionWatch(db, { checkAtWindows: [12, 30], thenEvery: 100 });
    feed(watch, Array.from({ length: 40 }, (_, i) => windowOf("v1", 1, i, 500)));
    // v2 moved every function down 7 lines: the identity must not care.
    const ids = feed(watch, Array.from({ length: 30 }, (_, i) => windowOf("v2", 2, i, 650, 7)));
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
  });

  it("says nothing for a redeploy of identical code", () => {
    const watch = new RegressionWatch(db, { checkAtWindows: [12, 30], thenEvery: 100 });
    feed(watch, Array.from({ length: 40 }, (_, i) => windowOf("v1", 1, i, 500)));
    expect(feed(watch, Array.from({ length: 30 }, (_, i) => windowOf("v1b", 2, i, 500)))).toEqual([]);
    expect(listIncidents(db, { sinceMs: 0 })).toEqual([]);
  });
});
