import { join } from "node:path";
import type { FunctionStat, ProfileWindow } from "@seismo/agent-proto";
import { EventStore, openDatabase } from "@seismo/analyzer";
import { afterEach, describe, expect, it } from "vitest";
import { functionStat, sampleEvents } from "../../agent-proto/test/sample-events.js";
import { cleanup, seismoRun, tempDir } from "./harness.js";

afterEach(cleanup);

const base = sampleEvents.profile.body as ProfileWindow;
let seed = 11;
const jitter = (): number => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
  return 1 + 0.2 * (seed / 2_147_483_648 - 0.5);
};
const fn = (name: string, selfUs: number): FunctionStat => functionStat({ name, selfUs, selfSamples: 1, totalSamples: 1 });

/** A database with deployments v1 and v2 of "shop", v2 making renderInvoice 40 % slower. */
function seed2(db: string): void {
  const conn = openDatabase(db);
  const store = new EventStore(conn);
  for (const [deployment, pid, render] of [["v1", 1, 500], ["v2", 2, 700]] as const) {
    for (let i = 0; i < 20; i++) {
      const functions = [fn("parseOrder", 30_000 * jitter()), fn("renderInvoice", render * 100 * jitter()), fn("computeTax", 20_000 * jitter())];
      const target = { ...base.target, service: "shop", deployment, targetId: `d:${pid}:1`, pid };
      const startMs = Date.now() - 600_000 + pid * 100_000 + i * 1_000;
      store.recordWindow({ ...base, target, windowId: `d:${pid}:1:${i}`, sequence: i, startMs, endMs: startMs + 1_000, cpuUs: functions.reduce((s, f) => s + f.selfUs, 0), functions }, 0);
    }
  }
  conn.close();
}

describe("seismo deployments and diff", () => {
  it("list the deployments in order, and name the function that got slower with its interval", async () => {
    const db = join(tempDir(), "deploys.db");
    seed2(db);
    const listed = await seismoRun(["deployments", "--db", db, "--json"]);
    expect(listed.code, listed.stderr).toBe(0);
    expect((JSON.parse(listed.stdout) as Array<{ deployment: string; windows: number }>).map((d) => [d.deployment, d.windows])).toEqual([
      ["v1", 20],
      ["v2", 20],
    ]);
    const diff = await seismoRun(["diff", "--from", "v1", "--to", "v2", "--db", db, "--json"]);
    expect(diff.code, diff.stderr).toBe(0);
    const result = JSON.parse(diff.stdout) as { service: string; enough: boolean; changes: Array<{ name: string; kind: string; ciLow: number }> };
    expect(result.service).toBe("shop");
    expect(result.enough).toBe(true);
    expect(result.changes.filter((c) => c.kind === "slower").map((c) => c.name)).toEqual(["renderInvoice"]);
    const human = await seismoRun(["diff", "--from", "v1", "--to", "v2", "--db", db]);
    expect(human.stdout).toMatch(/slower\s+\+\d+ % \(95 % CI \+\d+…\+\d+ %\).*renderInvoice/);
    const missing = await seismoRun(["diff", "--from", "v1", "--to", "v9", "--db", db]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/No service has deployment|No windows of deployment "v9"/);
  });
});
