import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DeliveredMessage } from "@seismo/agent-proto";
import { encodeEvent } from "@seismo/agent-proto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sampleEvents } from "../../agent-proto/test/sample-events.js";
import type { Db } from "../src/store/database.js";
import { Ingestor } from "../src/ingest/ingestor.js";
import { openDatabase } from "../src/store/database.js";
import { EventStore } from "../src/store/event-store.js";

function message(subject: string, data: Uint8Array) {
  const outcome: { value?: string } = {};
  const m: DeliveredMessage = {
    subject,
    data,
    redelivered: false,
    ack: () => {
      outcome.value = "ack";
    },
    reject: () => {
      outcome.value = "reject";
    },
    retry: () => {
      outcome.value = "retry";
    },
  };
  return { m, outcome };
}

/** The same message handed over twice, as a redelivery brings it: acked both times. */
function deliverTwice(ingestor: Ingestor, subject: string, bytes: Uint8Array): void {
  for (let i = 0; i < 2; i++) {
    const { m, outcome } = message(subject, bytes);
    ingestor.handle(m);
    expect(outcome.value).toBe("ack");
  }
}

let dir: string;
let db: Db;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "seismo-ingest-"));
  db = openDatabase(join(dir, "seismo.db"));
});
afterEach(() => {
  if (db.open) db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("Ingestor", () => {
  it("stores a spike from the wire, opens its incident once, tells who listens, and counts a redelivery as a duplicate", () => {
    const incidents: string[] = [];
    const ingestor = new Ingestor(new EventStore(db), { warn: () => undefined }, undefined, (id) => incidents.push(id));
    deliverTwice(ingestor, "seismo.v1.shop.spike", encodeEvent(sampleEvents.spike));
    // The sample burst is one app function with no baseline: it dominates, so it is an incident.
    expect(ingestor.stats).toMatchObject({ spikesStored: 1, incidentsOpened: 1, duplicates: 1 });
    expect(incidents).toHaveLength(1);
  });

  it("acks after storing, and acks a duplicate without storing it twice", () => {
    const warnings: string[] = [];
    const ingestor = new Ingestor(new EventStore(db), { warn: (w) => warnings.push(w) });
    deliverTwice(ingestor, "seismo.v1.shop.profile", encodeEvent(sampleEvents.profile));
    expect(ingestor.stats).toMatchObject({ received: 2, windowsStored: 1, duplicates: 1 });
    expect(warnings).toEqual([]);
  });

  it("drops malformed messages and wrong subjects, counts them by code, logs each code once, and keeps a copy", () => {
    const warnings: string[] = [];
    const ingestor = new Ingestor(new EventStore(db), { warn: (w) => warnings.push(w) });
    const cases: Array<[string, Uint8Array]> = [
      ["seismo.v1.shop.profile", new TextEncoder().encode("not protobuf at all")],
      ["seismo.v1.shop.profile", new Uint8Array([0xff, 0xff, 0xff])],
      ["seismo.v1.shop.profile", encodeEvent(sampleEvents.hello)],
      ["seismo.v1.shop.nonsense", encodeEvent(sampleEvents.hello)],
    ];
    for (const [subject, data] of cases) {
      const { m, outcome } = message(subject, data);
      ingestor.handle(m);
      expect(outcome.value).toBe("reject");
    }
    expect(ingestor.stats.rejected).toEqual({ SEISMO_DECODE_MALFORMED: 2, SEISMO_SUBJECT_INVALID: 2 });
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/dropped a message on seismo\.v1\.shop\.profile/);
    expect((db.prepare("SELECT COUNT(*) AS n FROM rejected_messages").get() as { n: number }).n).toBe(4);
    // ...and still ingests good messages afterwards.
    const { m, outcome } = message("seismo.v1.shop.profile", encodeEvent(sampleEvents.profile));
    ingestor.handle(m);
    expect(outcome.value).toBe("ack");
  });

  it("a full disk: says so with what to do, asks for redelivery, and stores the message once there is room", () => {
    const warnings: string[] = [];
    let now = 1_000_000;
    const ingestor = new Ingestor(new EventStore(db), { warn: (w) => warnings.push(w) }, undefined, undefined, undefined, () => now);
    // A real SQLITE_FULL without filling a disk: cap the file at the pages it has.
    const pages = db.pragma("page_count", { simple: true }) as number;
    db.pragma(`max_page_count = ${pages}`);
    const profile = sampleEvents.profile;
    if (profile.kind !== "profile") throw new Error("fixture");
    const windowBytes = (n: number) => encodeEvent({ ...profile, body: { ...profile.body, windowId: `w:${n}`, sequence: n } });
    // Existing pages have some room: write distinct windows until the file is full.
    let n = 0;
    let outcome: string | undefined;
    let bytes = windowBytes(n);
    for (; n < 500; n++) {
      bytes = windowBytes(n);
      const attempt = message("seismo.v1.shop.profile", bytes);
      ingestor.handle(attempt.m);
      outcome = attempt.outcome.value;
      if (outcome !== "ack") break;
    }
    expect(outcome).toBe("retry");
    const storedBefore = (db.prepare("SELECT COUNT(*) AS n FROM windows").get() as { n: number }).n;
    expect(storedBefore).toBe(n);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/cannot store a profile event \(try 1\), will retry in 5 s: Cannot use the database .*seismo\.db: .*full.*The disk is full: free space/);
    // Within the pause that called for, the next message is handed back untried; after it, tried
    // again: the same failure is counted, not logged again, and the pause grows.
    const untried = message("seismo.v1.shop.profile", bytes);
    untried.m.retry = (delayMs) => {
      untried.outcome.value = `retry in ${delayMs}`;
    };
    now += 1_000;
    ingestor.handle(untried.m);
    expect(untried.outcome.value).toBe("retry in 4000");
    now += 4_000;
    ingestor.handle(message("seismo.v1.shop.profile", bytes).m);
    expect(warnings).toHaveLength(1);
    expect(ingestor.stats.retried).toBe(3);
    expect(ingestor.stuck(30_000)).toBeUndefined();
    now += 31_000;
    expect(ingestor.stuck(30_000)).toMatch(/^ingest is stuck: nothing stored for 36 s, 3 failed tries; last: Cannot use the database .*full/);
    db.pragma("max_page_count = 1073741823");
    const again = message("seismo.v1.shop.profile", bytes);
    ingestor.handle(again.m);
    expect(again.outcome.value).toBe("ack");
    expect((db.prepare("SELECT COUNT(*) AS n FROM windows").get() as { n: number }).n).toBe(storedBefore + 1);
  });

  it("asks for redelivery when the database cannot take the write", () => {
    const ingestor = new Ingestor(new EventStore(db), { warn: () => {} });
    db.close();
    const { m, outcome } = message("seismo.v1.shop.profile", encodeEvent(sampleEvents.profile));
    ingestor.handle(m);
    expect(outcome.value).toBe("retry");
    expect(ingestor.stats.retried).toBe(1);
  });

  it("a message the store refuses for a reason of its own is tried three times, then kept whole in rejected_messages and dropped; the others go by", () => {
    const profile = sampleEvents.profile;
    if (profile.kind !== "profile") throw new Error("fixture");
    const windowBytes = (n: number) => encodeEvent({ ...profile, body: { ...profile.body, windowId: `w:${n}`, sequence: n } });
    // A bug in the store that one message meets (mocking our own interface, over the real database).
    class BuggyStore extends EventStore {
      override recordWindow(window: Parameters<EventStore["recordWindow"]>[0], receivedAtMs: number) {
        if (window.windowId === "w:poison") throw new TypeError("Cannot read properties of undefined (reading 'name')");
        return super.recordWindow(window, receivedAtMs);
      }
    }
    const warnings: string[] = [];
    const ingestor = new Ingestor(new BuggyStore(db), { warn: (w) => warnings.push(w) });
    const poison = encodeEvent({ ...profile, body: { ...profile.body, windowId: "w:poison", sequence: 99 } });
    const outcomes: string[] = [];
    const delays: number[] = [];
    for (let n = 0; n < 3; n++) {
      const retried = message("seismo.v1.shop.profile", poison);
      retried.m.retry = (delayMs) => {
        retried.outcome.value = "retry";
        delays.push(delayMs ?? 0);
      };
      ingestor.handle(retried.m);
      outcomes.push(retried.outcome.value ?? "");
      const good = message("seismo.v1.shop.profile", windowBytes(n));
      ingestor.handle(good.m);
      expect(good.outcome.value).toBe("ack");
    }
    expect(outcomes).toEqual(["retry", "retry", "reject"]);
    expect(delays).toEqual([5_000, 10_000]);
    expect(warnings[0]).toMatch(/cannot store a profile event \(try 1 of 3\), will retry in 5 s: TypeError: Cannot read properties of undefined/);
    expect(warnings.at(-1)).toMatch(/dropped a message on seismo\.v1\.shop\.profile: storing this profile event failed 3 times, not because of the database: TypeError/);
    expect(ingestor.stats.rejected).toEqual({ SEISMO_STORE_REFUSED: 1 });
    const kept = db.prepare("SELECT code, size, length(head) AS kept FROM rejected_messages").all();
    expect(kept).toEqual([{ code: "SEISMO_STORE_REFUSED", size: poison.length, kept: poison.length }]);
    expect((db.prepare("SELECT COUNT(*) AS n FROM windows").get() as { n: number }).n).toBe(3);
    expect(ingestor.stuck(0, Date.now())).toBeUndefined();
  });

  it("a locked database is waited out, however long, and ingest reads as stuck meanwhile, then moves again", () => {
    let now = 1_000_000;
    const startedAt = now;
    // When the database was tried (a real EventStore, its calls counted).
    const tried: number[] = [];
    class CountedStore extends EventStore {
      override recordWindow(window: Parameters<EventStore["recordWindow"]>[0], receivedAtMs: number) {
        tried.push((now - startedAt) / 1_000);
        return super.recordWindow(window, receivedAtMs);
      }
    }
    const ingestor = new Ingestor(new CountedStore(db), { warn: () => undefined }, undefined, undefined, undefined, () => now);
    // Another writer holds the lock; this connection does not wait for it.
    db.pragma("busy_timeout = 0");
    const other = openDatabase(join(dir, "seismo.db"));
    other.exec("BEGIN EXCLUSIVE");
    const bytes = encodeEvent(sampleEvents.profile);
    // A message a second for 150 s.
    for (let n = 0; n < 150; n++, now += 1_000) {
      const { m, outcome } = message("seismo.v1.shop.profile", bytes);
      const before = ingestor.stats.retried;
      ingestor.handle(m);
      expect(outcome.value).toBe("retry");
      expect(ingestor.stats.retried).toBe(before + 1);
      if (ingestor.stuck(30_000) === undefined && n >= 30) throw new Error(`not stuck at ${n} s`);
      if (n === 29) expect(ingestor.stuck(30_000)).toBeUndefined();
    }
    // Tried at 0, 5, 15, 35, 75 and 135 s (the pause doubles up to a minute), the other messages
    // handed back untried meanwhile; none dropped.
    expect(tried).toEqual([0, 5, 15, 35, 75, 135]);
    expect(ingestor.stats.rejected).toEqual({});
    expect(ingestor.stuck(30_000)).toMatch(/^ingest is stuck: nothing stored for 150 s, 150 failed tries; last: Cannot use the database .*: database is locked/);
    other.exec("COMMIT");
    other.close();
    now = startedAt + 200_000;
    const { m, outcome } = message("seismo.v1.shop.profile", bytes);
    ingestor.handle(m);
    expect(outcome.value).toBe("ack");
    expect(ingestor.stuck(30_000)).toBeUndefined();
  });
});
