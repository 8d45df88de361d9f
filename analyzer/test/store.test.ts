import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import type { ProfileWindow } from "@seismo/agent-proto";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sampleEvents } from "../../agent-proto/test/sample-events.js";
import type { Db } from "../src/store/database.js";
import { listTargets } from "../src/query/targets.js";
import { topFunctions } from "../src/query/top-functions.js";
import { openDatabase, openDatabaseReadOnly } from "../src/store/database.js";
import { EventStore } from "../src/store/event-store.js";
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from "../src/store/migrations.js";

const profile = sampleEvents.profile.body as ProfileWindow;

function windowAt(sequence: number, endMs: number, overrides: Partial<ProfileWindow> = {}): ProfileWindow {
  return { ...profile, windowId: `${profile.target.targetId}:${sequence}`, sequence, startMs: endMs - 10_000, endMs, ...overrides };
}

let dir: string;
let db: Db;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "seismo-store-"));
  db = openDatabase(join(dir, "seismo.db"));
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

/** One target and one window, in the columns every schema version has had. */
function insertOldWindow(old: Database.Database): void {
  old.prepare("INSERT INTO targets (target_id, daemon_id, service, pid, last_seen_ms) VALUES ('t', 'd', 'shop', 1, 0)").run();
  old.prepare(
    `INSERT INTO windows (window_id, target_id, service, deployment, sequence, start_ms, end_ms, sampling_interval_us,
      total_samples, cpu_us, idle_us, gc_us, program_us, truncated_functions, received_at_ms)
     VALUES ('t:0', 't', 'shop', '', 0, 0, 10, 10000, 1, 5, 5, 0, 0, 0, 0)`,
  ).run();
}

const count = (table: string): number => (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;

describe("database", () => {
  it("migrates once, in WAL mode, and reopens without re-running migrations", () => {
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    db.close();
    db = openDatabase(join(dir, "seismo.db"));
    expect(db.prepare("SELECT version FROM schema_migrations ORDER BY version").all()).toEqual(
      MIGRATIONS.map((m) => ({ version: m.version })),
    );
    expect(LATEST_SCHEMA_VERSION).toBe(MIGRATIONS.at(-1)?.version);
  });

  it("brings a database written at schema version 1 forward, keeping its data", () => {
    db.close();
    const path = join(dir, "v1.db");
    const old = new Database(path);
    old.exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms INTEGER NOT NULL)");
    old.exec(MIGRATIONS[0]!.sql as string);
    old.prepare("INSERT INTO schema_migrations VALUES (1, 'v1', 0)").run();
    insertOldWindow(old);
    old.close();
    db = openDatabase(path);
    expect(db.prepare("SELECT window_id, cpu_us, sensor_us FROM windows").all()).toEqual([{ window_id: "t:0", cpu_us: 5, sensor_us: 0 }]);
    expect(new EventStore(db).recordWindow(windowAt(1, 20), 0)).toBe("stored");
  });

  it("keeps every migration's text as it shipped (a change is a new migration, never an edit)", () => {
    const text = (m: (typeof MIGRATIONS)[number]): string => (typeof m.sql === "string" ? m.sql : m.sql(db));
    const hashes = MIGRATIONS.map((m) => `${m.version} ${createHash("sha256").update(text(m)).digest("hex").slice(0, 16)}`);
    expect(hashes).toEqual(SHIPPED_MIGRATIONS);
  });

  it("rebuilds window_endpoints left by a build whose migration 8 had no direction, host or sampling", () => {
    db.close();
    const path = join(dir, "v9-early-endpoints.db");
    const old = new Database(path);
    old.pragma("foreign_keys = ON");
    old.exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms INTEGER NOT NULL)");
    for (const m of MIGRATIONS.filter((m) => m.version <= 9)) {
      old.exec(m.version === 8 ? FIRST_MIGRATION_8 : (m.sql as string));
      old.prepare("INSERT INTO schema_migrations VALUES (?, ?, 0)").run(m.version, m.name);
    }
    insertOldWindow(old);
    old.prepare("INSERT INTO window_endpoints VALUES (1, 'GET', '/a', 200, 1, 3, 6.5, 4, '[[10,3]]')").run();
    old.close();

    db = openDatabase(path);
    expect(db.prepare("SELECT direction, host, method, route, status, count, sampled_every FROM window_endpoints").all()).toEqual([
      { direction: "in", host: "", method: "GET", route: "/a", status: 200, count: 3, sampled_every: 1 },
    ]);
    // A query row, which the early table's CHECK refused, is stored now.
    const query = { method: "SELECT", route: "SELECT ?", status: 0, count: 1, totalMs: 1, maxMs: 1, bucketIndexes: [1], bucketCounts: [1], routeTemplate: true, host: "pg test" };
    expect(new EventStore(db).recordWindow(windowAt(1, 20, { queries: [query] }), 0)).toBe("stored");
    // And a table of the final shape is left alone: the repair has nothing to do there.
    const repair = MIGRATIONS.find((m) => m.version === 10)!.sql as (db: Db) => string;
    expect(repair(db)).toBe("");
  });

  it("refuses a database written by a newer Seismo, and a missing file for queries", () => {
    db.prepare("INSERT INTO schema_migrations VALUES (999, 'future', 0)").run();
    db.close();
    expect(() => openDatabase(join(dir, "seismo.db"))).toThrow(/newer than this Seismo/);
    expect(() => openDatabaseReadOnly(join(dir, "seismo.db"))).toThrow(/newer than this Seismo/);
    expect(() => openDatabaseReadOnly(join(dir, "nope.db"))).toThrow(/No Seismo database/);
    db = openDatabase(join(dir, "other.db"));
  });

  it("is created once when several processes open the same new file at the same moment", async () => {
    // Two `seismo run` beside each other on one --db: each used to read version 0 and create the
    // tables, and the second failed with "table targets already exists" (seen in CI).
    const path = join(dir, "shared.db");
    const children = Array.from({ length: 6 }, () =>
      spawn(process.execPath, [fileURLToPath(new URL("fixtures/open-database-child.mjs", import.meta.url)), path], { stdio: ["pipe", "pipe", "inherit"] }),
    );
    const lines = children.map((child) => createInterface({ input: child.stdout })[Symbol.asyncIterator]());
    const next = async (i: number): Promise<string> => String((await lines[i]?.next())?.value);
    expect(await Promise.all(children.map((_, i) => next(i)))).toEqual(children.map(() => "ready"));
    for (const child of children) child.stdin.write("go\n");
    expect(await Promise.all(children.map((_, i) => next(i)))).toEqual(children.map(() => "opened"));
    const shared = openDatabaseReadOnly(path);
    expect(shared.prepare("SELECT version FROM schema_migrations ORDER BY version").all()).toEqual(MIGRATIONS.map((m) => ({ version: m.version })));
    shared.close();
  });
});

describe("EventStore", () => {
  it("stores a window once: a redelivered copy is a no-op", () => {
    const store = new EventStore(db);
    expect(store.recordWindow(windowAt(0, 1_000_000), Date.now())).toBe("stored");
    expect(store.recordWindow(windowAt(0, 1_000_000), Date.now())).toBe("duplicate");
    expect(count("windows")).toBe(1);
    expect(count("window_functions")).toBe(2);
    expect(count("functions")).toBe(2);
    expect(count("targets")).toBe(1);
  });

  it("keeps target facts from hello, heartbeat and goodbye", () => {
    const store = new EventStore(db);
    store.recordHello(sampleEvents.hello.body as never, 1);
    store.recordHeartbeat(sampleEvents.heartbeat.body as never, 2);
    store.recordGoodbye(sampleEvents.goodbye.body as never, 3);
    expect(db.prepare("SELECT service, node_version, target_cpu, end_reason, last_seen_ms FROM targets").get()).toEqual({
      service: "shop",
      node_version: "v20.20.2",
      target_cpu: 0.625,
      end_reason: "TARGET_EXITED",
      last_seen_ms: 3,
    });
  });

  it("prunes windows past retention, with their rows", () => {
    const store = new EventStore(db);
    store.recordWindow(windowAt(0, 1_000), 1_000);
    store.recordWindow(windowAt(1, 5_000), 5_000);
    expect(store.prune(2_000)).toBe(1);
    expect(count("windows")).toBe(1);
    expect(count("window_functions")).toBe(2);
  });

  it("keeps a bounded copy of rejected messages", () => {
    const store = new EventStore(db);
    for (let i = 0; i < 5; i++) store.recordRejected("seismo.v1.x.profile", "SEISMO_DECODE_MALFORMED", "bad", new Uint8Array(10_000), i, 3);
    expect(count("rejected_messages")).toBe(3);
    expect(db.prepare("SELECT MAX(length(head)) AS n FROM rejected_messages").get()).toEqual({ n: 4_096 });
  });
});

describe("topFunctions", () => {
  it("sums windows in the period and gives shares of its CPU time", () => {
    const store = new EventStore(db);
    store.recordWindow(windowAt(0, 100_000), 0);
    store.recordWindow(windowAt(1, 110_000), 0);
    store.recordWindow(windowAt(2, 50_000), 0); // before the period
    const top = topFunctions(db, { sinceMs: 90_000 });
    expect(top.windows).toBe(2);
    expect(top.cpuMs).toBe(12_000);
    expect(top.functions.map((f) => [f.name, f.selfMs, f.selfShare, f.samples])).toEqual([
      ["hotFunction", 9_000, 0.75, 900],
      ["_encipher", 3_000, 0.25, 300],
    ]);
    expect(top.functions[0]).toMatchObject({
      package: null,
      packageVersion: null,
      file: "/app/server.js",
      line: 11,
      hotLines: [
        { line: 15, samples: 880 },
        { line: 14, samples: 20 },
      ],
    });
    expect(top.functions[1]).toMatchObject({ package: "bcryptjs", packageVersion: "3.0.3" });
  });

  it("filters by service and limits rows", () => {
    const store = new EventStore(db);
    store.recordWindow(windowAt(0, 100_000), 0);
    const other = { ...profile.target, targetId: "other:1:1", service: "billing" };
    store.recordWindow(windowAt(0, 100_000, { windowId: "other:1:1:0", target: other }), 0);
    expect(topFunctions(db, { sinceMs: 0, service: "billing", limit: 1 }).functions).toHaveLength(1);
    expect(topFunctions(db, { sinceMs: 0, service: "billing" }).functions.every((f) => f.service === "billing")).toBe(true);
    expect(topFunctions(db, { sinceMs: 0, service: "nobody" })).toMatchObject({ windows: 0, functions: [] });
  });
});

describe("listTargets", () => {
  it("says which targets are attached, silent or ended, with their windows and last heartbeat", () => {
    const store = new EventStore(db);
    const hello = sampleEvents.hello.body as Parameters<EventStore["recordHello"]>[0];
    const live = { ...hello.target, targetId: "live", pid: 1 };
    const quiet = { ...hello.target, targetId: "quiet", pid: 2 };
    const gone = { ...hello.target, targetId: "gone", pid: 3 };
    store.recordHello({ ...hello, target: live }, 100_000);
    store.recordHello({ ...hello, target: quiet }, 10_000);
    store.recordHello({ ...hello, target: gone }, 90_000);
    store.recordWindow(windowAt(0, 95_000, { windowId: "live:0", target: live }), 95_000);
    store.recordWindow(windowAt(1, 99_000, { windowId: "live:1", target: live }), 99_000);
    store.recordHeartbeat({ ...(sampleEvents.heartbeat.body as Parameters<EventStore["recordHeartbeat"]>[0]), target: live }, 100_000);
    store.recordGoodbye({ ...(sampleEvents.goodbye.body as Parameters<EventStore["recordGoodbye"]>[0]), target: gone }, 95_000);
    const targets = listTargets(db, { sinceMs: 0, nowMs: 110_000 });
    expect(targets.map((t) => [t.targetId, t.status, t.windows])).toEqual([
      ["live", "attached", 2],
      ["gone", "ended", 0],
      ["quiet", "silent", 0],
    ]);
    expect(targets[0]).toMatchObject({ nodeVersion: "v20.20.2", targetCpu: 0.625, targetRssBytes: 87_654_321, endReason: null });
    expect(targets[1]).toMatchObject({ endReason: "TARGET_EXITED" });
    expect(listTargets(db, { sinceMs: 50_000, nowMs: 110_000 }).map((t) => t.targetId)).toEqual(["live", "gone"]);
  });
});

/** sha256 (first 16 hex digits) of each migration as it shipped; migration 10 as it runs on a new database. */
const SHIPPED_MIGRATIONS = [
  "1 6d374eb650d7b73f",
  "2 c2ee2a7aca4b43bc",
  "3 b90e40b2d01c7e1a",
  "4 aa58c032f9935a49",
  "5 084bc382f2cccb17",
  "6 144df2f18bf5d360",
  "7 f66ee36f9a588de2",
  "8 2418c5fd462d4d71",
  "9 6a6e6a7e897c75a3",
  "10 e3b0c44298fc1c14",
  "11 7184f3deb30131d5",
  "12 af029322aa158ce2",
];

/** Migration 8 as first written (bbf02fc), before outgoing calls, queries and sampling were added to it. */
const FIRST_MIGRATION_8 = `
      CREATE TABLE window_endpoints (
        window_ref INTEGER NOT NULL REFERENCES windows(id) ON DELETE CASCADE,
        method TEXT NOT NULL,
        route TEXT NOT NULL,
        status INTEGER NOT NULL,
        route_template INTEGER NOT NULL,
        count INTEGER NOT NULL,
        total_ms REAL NOT NULL,
        max_ms REAL NOT NULL,
        buckets TEXT NOT NULL,
        PRIMARY KEY (window_ref, method, route, status)
      ) WITHOUT ROWID;
`;
