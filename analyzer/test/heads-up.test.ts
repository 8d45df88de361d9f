import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FunctionStat, ProfileWindow, RequestExemplar } from "@seismo/agent-proto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sampleEvents } from "../../agent-proto/test/sample-events.js";
import type { Db } from "../src/store/database.js";
import { headsUp, headsUpMarkdown } from "../src/report/heads-up.js";
import { openDatabase } from "../src/store/database.js";
import { EventStore } from "../src/store/event-store.js";

const base = sampleEvents.profile.body as ProfileWindow;
const HOUR = 3_600_000;
const NOW = 10 * 24 * HOUR;

function fn(name: string, line: number, selfUs: number): FunctionStat {
  return { name, scriptUrl: "file:///app/server.js", filePath: "/app/server.js", line, column: 1, packageName: "", packageVersion: "", selfSamples: Math.round(selfUs / 10_000), totalSamples: 0, selfUs, totalUs: selfUs, hotLines: [], inlinedSamples: 0, uncertainSamples: 0, inlineCandidates: [], generatedFile: "", generatedLine: 0, generatedColumn: 0, calledBy: "" };
}

/** A window of the shop service `hoursAgo` hours before NOW, where `exportCsv` costs `csv` µs. */
function windowAt(hoursAgo: number, csv: number): ProfileWindow {
  const functions = [fn("handle", 10, 500_000), fn("render", 20, 400_000), ...(csv > 0 ? [fn("exportCsv", 30, csv)] : [])];
  const end = NOW - hoursAgo * HOUR;
  const sequence = Math.round(1_000 - hoursAgo);
  return { ...base, windowId: `w:${sequence}`, sequence, startMs: end - 10_000, endMs: end, cpuUs: functions.reduce((s, f) => s + f.selfUs, 0), functions };
}

let dir: string;
let db: Db;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "seismo-headsup-"));
  db = openDatabase(join(dir, "seismo.db"));
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("the daily heads-up", () => {
  it("names a function that is newly among the hottest (twice its share the day before), and not one that held steady", () => {
    const store = new EventStore(db);
    // Yesterday: exportCsv at 1 % of the CPU, render steady; today: exportCsv at 25 %.
    for (let h = 47; h >= 25; h -= 2) store.recordWindow(windowAt(h, 9_000), 0);
    for (let h = 23; h >= 1; h -= 2) store.recordWindow(windowAt(h, 300_000), 0);
    const report = headsUp(db, { sinceMs: NOW - 24 * HOUR, nowMs: NOW });
    expect(report.newHotFunctions.map((f) => f.name)).toEqual(["exportCsv"]);
    expect(report.newHotFunctions[0]?.share).toBeCloseTo(0.25, 2);
    expect(report.newHotFunctions[0]?.previousShare).toBeCloseTo(0.01, 2);
    expect(report).toMatchObject({ schema: "seismo.heads-up.v1", quickWins: [], regressions: [] });
    expect(headsUpMarkdown(report)).toMatch(/`exportCsv` \/app\/server\.js:30: 25\.0 % of CPU, 1\.0 % the period before/);
  });

  it("flags nothing as new on a first day: there is no day before to compare with", () => {
    const store = new EventStore(db);
    for (let h = 23; h >= 1; h -= 2) store.recordWindow(windowAt(h, 300_000), 0);
    expect(headsUp(db, { sinceMs: NOW - 24 * HOUR, nowMs: NOW }).newHotFunctions).toEqual([]);
  });

  it("lists the routes whose failed requests were kept, with the latest one's story, and none from before the period", () => {
    const store = new EventStore(db);
    const failed = sampleEvents.request.body as RequestExemplar;
    store.recordRequest({ ...failed, startedAtMs: NOW - 2 * HOUR }, 0);
    store.recordRequest({ ...failed, requestId: `${failed.requestId}-old`, startedAtMs: NOW - 30 * HOUR }, 0);
    const report = headsUp(db, { sinceMs: NOW - 24 * HOUR, nowMs: NOW });
    expect(report.failingRoutes).toMatchObject([{ service: "shop", method: "GET", route: "/api/orders/:id", failed: 1, slow: 0 }]);
    expect(headsUpMarkdown(report)).toMatch(/## Failed and slow requests\n\n- \*\*shop\*\* `GET \/api\/orders\/:id`: 1 failed kept\. Latest: .*relation "missing_table" does not exist; DatabaseError at \/app\/src\/orders\.ts:31 \(`seismo show req-[0-9a-f]{10}`\)/);
  });
});
