import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Snapshot } from "@seismo/agent-proto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sampleEvents } from "../../agent-proto/test/sample-events.js";
import type { IncidentView } from "../src/incidents/incident.js";
import type { Db } from "../src/store/database.js";
import { capturePlan } from "../src/capture/capture-plan.js";
import { listSnapshots } from "../src/capture/snapshot-store.js";
import { openDatabase } from "../src/store/database.js";
import { EventStore } from "../src/store/event-store.js";

const sample = sampleEvents.snapshot.body as Snapshot;

let dir: string;
let db: Db;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "seismo-snap-"));
  db = openDatabase(join(dir, "seismo.db"));
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("snapshots", () => {
  it("are stored once, listed by incident newest first, and pruned with the rest", () => {
    const store = new EventStore(db);
    expect(store.recordSnapshot(sample, 1)).toBe(true);
    expect(store.recordSnapshot(sample, 2)).toBe(false); // redelivered
    expect(store.recordSnapshot({ ...sample, hit: 2, capturedAtMs: sample.capturedAtMs + 10 }, 3)).toBe(true);
    expect(store.recordSnapshot({ ...sample, probeId: "other:1", trigger: "manual" }, 4)).toBe(true);
    const mine = listSnapshots(db, { incidentId: "spk-0123456789" });
    expect(mine.map((s) => s.hit)).toEqual([2, 1]);
    expect(mine[1]).toMatchObject({ functionName: "renderInvoice", file: "/app/src/invoice.js", line: 31, trigger: "spk-0123456789", captureCostUs: 84, last: false });
    expect(mine[1]?.locals[0]?.children.find((c) => c.name === "apiKey")).toMatchObject({ value: "[redacted]", truncated: "redacted" });
    expect(mine[1]?.thisValue).toMatchObject({ type: "InvoiceService", truncated: "depth" });
    expect(listSnapshots(db)).toHaveLength(3);
    // Two more hits in the same millisecond as the last (a hot function): by hit, last first.
    expect(store.recordSnapshot({ ...sample, hit: 4, capturedAtMs: sample.capturedAtMs + 10 }, 6)).toBe(true);
    expect(store.recordSnapshot({ ...sample, hit: 3, capturedAtMs: sample.capturedAtMs + 10 }, 7)).toBe(true);
    expect(listSnapshots(db, { incidentId: "spk-0123456789" }).map((s) => s.hit)).toEqual([4, 3, 2, 1]);
    expect(listSnapshots(db)[0]?.error).toBe("");
    // An exception's snapshots: listed apart, with their exception.
    expect(store.recordSnapshot({ ...sample, probeId: "t:thrown-1", trigger: "error:0123456789ab", hit: 0, locals: [], error: "RangeError: too many" }, 5)).toBe(true);
    expect(listSnapshots(db, { errors: true }).map((s) => [s.trigger, s.error])).toEqual([["error:0123456789ab", "RangeError: too many"]]);
    store.prune(sample.capturedAtMs + 5);
    expect(listSnapshots(db).map((s) => s.hit)).toEqual([4, 3, 2]);
  });

  it("are planned for an incident at the app frame of its first culprit that has one, never in a package", () => {
    const base = { id: "spk-1", service: "shop" } as IncidentView;
    const culprit = (name: string, appFrame: { name: string; file: string | null; line: number | null } | null) =>
      ({ name, file: null, line: null, package: null, packageVersion: null, builtin: false, share: 0.5, baselineShare: 0, hotLine: null, appFrame, callers: [], note: "", samples: 1 });
    expect(capturePlan({ ...base, culprits: [culprit("_encipher", { name: "hashPassword", file: "/app/src/auth.js", line: 12 })] })).toEqual({
      incidentId: "spk-1",
      service: "shop",
      file: "/app/src/auth.js",
      functionName: "hashPassword",
      line: 12,
    });
    expect(capturePlan({ ...base, culprits: [culprit("JSON.parse", null), culprit("step", { name: "step", file: "/app/src/import.js", line: 3 })] })?.functionName).toBe("step");
    expect(capturePlan({ ...base, culprits: [culprit("x", { name: "x", file: "/app/node_modules/lib/index.js", line: 1 })] })).toBeUndefined();
    expect(capturePlan({ ...base, culprits: [culprit("writev", { name: "writev", file: "node:internal/stream", line: 1 })] })).toBeUndefined();
    // An anonymous handler: by where it is declared. Pseudo-functions never.
    expect(capturePlan({ ...base, culprits: [culprit("(anonymous) router.get('/r', …)", { name: "(anonymous) router.get('/r', …)", file: "/app/src/routes.js", line: 26 })] })).toMatchObject({
      functionName: "(anonymous) router.get('/r', …)",
      line: 26,
    });
    expect(capturePlan({ ...base, culprits: [culprit("(garbage collector)", { name: "(garbage collector)", file: "/app/src/routes.js", line: 1 })] })).toBeUndefined();
  });
});
