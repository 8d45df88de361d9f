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
    const bytes = encodeEvent(sampleEvents.spike);
    for (let i = 0; i < 2; i++) {
      const { m, outcome } = message("seismo.v1.shop.spike", bytes);
      ingestor.handle(m);
      expect(outcome.value).toBe("ack");
    }
    // The sample burst is one app function with no baseline: it dominates, so it is an incident.
    expect(ingestor.stats).toMatchObject({ spikesStored: 1, incidentsOpened: 1, duplicates: 1 });
    expect(incidents).toHaveLength(1);
  });

  it("acks after storing, and acks a duplicate without storing it twice", () => {
    const warnings: string[] = [];
    const ingestor = new Ingestor(new EventStore(db), { warn: (w) => warnings.push(w) });
    const bytes = encodeEvent(sampleEvents.profile);
    for (let i = 0; i < 2; i++) {
      const { m, outcome } = message("seismo.v1.shop.profile", bytes);
      ingestor.handle(m);
      expect(outcome.value).toBe("ack");
    }
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
    const ingestor = new Ingestor(new EventStore(db), { warn: (w) => warnings.push(w) });
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
    expect(warnings[0]).toMatch(/cannot store a profile event, will retry: Cannot use the database .*seismo\.db: .*full.*The disk is full: free space/);
    // Same failure again: counted, not logged again.
    ingestor.handle(message("seismo.v1.shop.profile", bytes).m);
    expect(warnings).toHaveLength(1);
    expect(ingestor.stats.retried).toBe(2);
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
});
