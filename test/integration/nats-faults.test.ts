import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { connectNats, encodeEvent, NatsEventPublisher } from "@seismo/agent-proto";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { sampleEvents } from "../../agent-proto/test/sample-events.js";
import { eventually } from "../eventually.js";
import { seismo, seismoRun, sleep, startFixture, startLoad, tempDir } from "./harness.js";
import { stopDaemonThenAnalyzer, useNatsSuite, waitForWindows, windowsIn } from "./nats-suite.js";

// Faults on the way from daemon to database: an analyzer killed, garbage on the bus, a database
// held locked, a broker restart, a spike while no analyzer runs. Nothing may be lost or stored twice.
const { server, auth, startAnalyzer, startDaemon } = useNatsSuite();

describe("daemon + analyzer over NATS JetStream, through faults", () => {
  it("the analyzer killed mid-stream and restarted: every window arrives exactly once", async () => {
    const db = join(tempDir(), "crash.db");
    const app = await startFixture("cpu-app.cjs");
    const first = startAnalyzer(db, "it-crash");
    const daemon = startDaemon(app.pid, "shop-crash");
    await waitForWindows(db, "shop-crash", 2);
    first.child.kill("SIGKILL");
    await first.exited;
    await sleep(3_000); // windows pile up in JetStream meanwhile
    const second = startAnalyzer(db, "it-crash");
    const before = windowsIn(db, "shop-crash").length;
    const seqs = await waitForWindows(db, "shop-crash", before + 4);
    expect(seqs).toEqual(seqs.map((_, i) => i)); // contiguous from 0: nothing lost, nothing twice
    daemon.child.kill("SIGTERM");
    await daemon.exited;
    second.child.kill("SIGTERM");
    await second.exited;
  });

  it("garbage on the bus (1,200 bad messages of every kind) is rejected once each, never retried; the consumer drains and real windows keep coming", async () => {
    const db = join(tempDir(), "malformed.db");
    const analyzer = startAnalyzer(db, "it-malformed");
    await analyzer.waitFor(/consuming from/);
    // A real daemon beside the garbage.
    const app = await startFixture("cpu-app.cjs");
    const daemon = startDaemon(app.pid, "shop-beside");
    await waitForWindows(db, "shop-beside", 1);
    const nc = await connectNats({ servers: server().url, name: "test", token: server().token });
    const publisher = new NatsEventPublisher(nc);
    const good = sampleEvents.profile;
    if (good.kind !== "profile") throw new Error("fixture");
    const target = { ...good.body.target, service: "shop-bad", targetId: "bad:1:1" };
    const window = (n: number) => encodeEvent({ ...good, body: { ...good.body, target, sequence: n, windowId: `bad:1:1:${n}`, endMs: Date.now() } });
    const valid = window(0);
    // Random bytes, truncated protobufs, a body on the wrong subject, and events that decode but name no target.
    const bad: Array<[string, Uint8Array]> = [];
    for (let i = 0; i < 1_200; i++) {
      const kind = i % 4;
      if (kind === 0) bad.push(["seismo.v1.shop-bad.profile", randomBytes(1 + (i % 300))]);
      else if (kind === 1) bad.push(["seismo.v1.shop-bad.profile", valid.subarray(0, 1 + (i % (valid.length - 2)))]);
      else if (kind === 2) bad.push(["seismo.v1.shop-bad.heartbeat", encodeEvent(sampleEvents.hello)]);
      else bad.push(["seismo.v1.shop-bad.profile", encodeEvent({ ...good, body: { ...good.body, target: undefined } } as unknown as typeof good)]);
    }
    let sent = 0;
    for (const [subject, data] of bad) {
      await publisher.publish(subject, data);
      // Real windows among them, as a daemon's would be.
      if (++sent % 100 === 0) await publisher.publish("seismo.v1.shop-bad.profile", window(sent / 100));
    }
    await publisher.close();
    // The consumer as the broker sees it, through JetStream's own API.
    const watcher = await connectNats({ servers: server().url, name: "test-watcher", token: server().token });
    const consumer = async () => (await watcher.request("$JS.API.CONSUMER.INFO.SEISMO.it-malformed")).json<{ num_pending: number; num_ack_pending: number; num_redelivered: number }>();
    // Every message answered: none waits for an ack (a term the broker ignored would leave them pending, and come back).
    let last: unknown;
    await eventually(async () => {
      const info = await consumer();
      last = info;
      return info.num_pending === 0 && info.num_ack_pending === 0 ? true : undefined;
    }, { timeoutMs: 60_000, everyMs: 250, explain: () => `the consumer: ${JSON.stringify(last)}` });
    await waitForWindows(db, "shop-bad", 12);
    expect((await consumer()).num_redelivered).toBe(0);
    await analyzer.waitFor(/dropped a message[\s\S]*dropped a message/, 5_000);
    expect(analyzer.child.exitCode).toBeNull();
    expect(analyzer.stderr()).not.toMatch(/Cannot use the database/);
    const conn = new Database(db, { readonly: true });
    // Each bad message stored once: 1,200 inserts (ids count them), of which the table keeps the last 1,000.
    expect(conn.prepare("SELECT COUNT(*) AS n, MAX(id) AS last FROM rejected_messages").get()).toEqual({ n: 1_000, last: 1_200 });
    expect(conn.prepare("SELECT DISTINCT code FROM rejected_messages ORDER BY code").all()).toEqual([{ code: "SEISMO_DECODE_MALFORMED" }, { code: "SEISMO_SUBJECT_INVALID" }]);
    expect(conn.prepare("SELECT COUNT(*) AS n FROM rejected_messages WHERE reason LIKE '%without a target cannot be stored%'").get()).toEqual({ n: 250 });
    expect(conn.prepare("SELECT COUNT(*) AS n FROM windows WHERE target_id = 'bad:1:1'").get()).toEqual({ n: 12 });
    conn.close();
    // The daemon's windows: every one stored once, and its goodbye delivered.
    await waitForWindows(db, "shop-beside", 3);
    daemon.child.kill("SIGTERM");
    expect((await daemon.exited).code).toBe(0);
    await eventually(() => {
      const targets = new Database(db, { readonly: true });
      try {
        return (targets.prepare("SELECT ended_at_ms FROM targets WHERE service = 'shop-beside'").get() as { ended_at_ms: number | null } | undefined)?.ended_at_ms ? true : undefined;
      } finally {
        targets.close();
      }
    }, { timeoutMs: 15_000, explain: () => "the daemon's goodbye never arrived" });
    const seqs = windowsIn(db, "shop-beside");
    expect(seqs.length).toBeGreaterThanOrEqual(3);
    expect(seqs).toEqual(seqs.map((_, i) => i));
    await watcher.close();
  });

  it("a database another process holds locked is waited out: /readyz red while nothing can be stored, green after, every window of a real daemon stored once", async () => {
    const db = join(tempDir(), "locked.db");
    const app = await startFixture("cpu-app.cjs");
    const analyzer = seismo(["analyzer", ...auth(), "--db", db, "--durable", "it-locked", "--stuck-after", "3s", "--health-port", "0", "--health-host", "127.0.0.1"]);
    const healthPort = Number((await analyzer.waitFor(/health and metrics on 127\.0\.0\.1:(\d+)/))[1]);
    const ready = async (): Promise<string> => {
      const answer = await fetch(`http://127.0.0.1:${healthPort}/readyz`);
      return `${answer.status} ${(await answer.text()).trim()}`;
    };
    const daemon = startDaemon(app.pid, "shop-locked");
    await waitForWindows(db, "shop-locked", 2);
    expect(await ready()).toBe("200 ready");
    // A backup, a migration, an operator's sqlite3 shell: a write transaction held for 12 s.
    const holder = new Database(db);
    holder.exec("BEGIN EXCLUSIVE");
    const lockedAt = Date.now();
    let seen = "";
    await eventually(async () => ((seen = await ready()).startsWith("503") ? true : undefined), { timeoutMs: 20_000, everyMs: 500, explain: () => `readyz said ${seen}` });
    expect(seen).toMatch(/^503 not ready: ingest is stuck: nothing stored for \d+ s, \d+ failed tries; last: Cannot use the database .*locked\.db: database is locked/);
    await sleep(Math.max(0, 12_000 - (Date.now() - lockedAt)));
    holder.exec("COMMIT");
    holder.close();
    await eventually(async () => ((seen = await ready()).startsWith("200") ? true : undefined), { timeoutMs: 40_000, everyMs: 500, explain: () => `readyz said ${seen}` });
    // Contiguous from 0: nothing lost while locked, nothing twice. (The windows handed back come
    // again as their pauses end, not in order: the first one tried waits longest.)
    const before = windowsIn(db, "shop-locked").length;
    let seqs: number[] = [];
    await eventually(() => {
      seqs = windowsIn(db, "shop-locked");
      return seqs.length >= before + 2 && seqs.every((n, i) => n === i) ? true : undefined;
    }, { timeoutMs: 60_000, everyMs: 500, explain: () => `windows stored: ${seqs.join(",")}` });
    expect(analyzer.stderr()).toMatch(/cannot store a \w+ event \(try 1\), will retry in 5 s: Cannot use the database .*database is locked/);
    // (Earlier tests' garbage on the same stream is dropped too; no real message is.)
    expect(analyzer.stderr()).not.toMatch(/SEISMO_STORE_REFUSED/);
    await stopDaemonThenAnalyzer(daemon, analyzer);
  });

  it("loses nothing across a broker restart: the daemon buffers, then every window arrives", async () => {
    const db = join(tempDir(), "outage.db");
    const app = await startFixture("cpu-app.cjs");
    const analyzer = startAnalyzer(db, "it-outage");
    const daemon = startDaemon(app.pid, "shop-outage");
    await waitForWindows(db, "shop-outage", 2);
    await server().stop();
    await sleep(3_000);
    await server().start();
    await daemon.waitFor(/publishing recovered/, 20_000);
    const before = windowsIn(db, "shop-outage").length;
    const seqs = await waitForWindows(db, "shop-outage", before + 2);
    expect(seqs).toEqual(seqs.map((_, i) => i)); // no window missing
    expect(daemon.stderr()).toMatch(/publishing failed, buffering and retrying/);
    await stopDaemonThenAnalyzer(daemon, analyzer);
  });

  it("a spike while no analyzer runs: the burst ends within its bound, windows go on, and the incident is made once the analyzer is back", async () => {
    const db = join(tempDir(), "spike.db");
    const app = await startFixture("spike-app.cjs");
    const load = startLoad(app.port, 80);
    const daemon = startDaemon(app.pid, "shop-spike", ["--burst-duration", "1s"]);
    await daemon.waitFor(/attached to pid/, 15_000);
    await sleep(6_000);
    await fetch(`http://127.0.0.1:${app.port}/admin/spike?kind=bcrypt&ms=3000`, { method: "POST" });
    await daemon.waitFor(/spike on pid \d+/, 10_000);
    const spikeSeenAt = Date.now();
    const done = await daemon.waitFor(/burst profile of pid \d+ done: (\d+) samples in (\d+) ms/, 5_000);
    expect(Date.now() - spikeSeenAt).toBeLessThan(1_000 + 1_500);
    expect(Number(done[2])).toBeLessThan(1_000 + 500);
    await app.waitFor(/spike-end bcrypt/, 10_000);
    await load.stop();

    const analyzer = startAnalyzer(db, "it-spike");
    await analyzer.waitFor(/./, 10_000);
    type Listed = { culprits: Array<{ package: string | null }> };
    const incident = await eventually(
      async () => {
        const listed = await seismoRun(["incidents", "--db", db, "--json"]);
        return listed.code === 0 ? (JSON.parse(listed.stdout) as Listed[])[0] : undefined;
      },
      { timeoutMs: 20_000, everyMs: 500, explain: () => "no incident was stored" },
    );
    expect(incident?.culprits[0]?.package).toBe("bcryptjs");
    // The windows kept their normal interval through and after the burst (about 100 samples a second at 10 ms).
    const conn = new Database(db, { readonly: true });
    const windows = conn
      .prepare("SELECT sampling_interval_us AS interval, total_samples AS samples, end_ms - start_ms AS ms FROM windows WHERE service = 'shop-spike'")
      .all() as Array<{ interval: number; samples: number; ms: number }>;
    conn.close();
    expect(windows.length).toBeGreaterThan(8);
    for (const w of windows.slice(1)) {
      expect(w.interval).toBe(10_000);
      // The rate says the same, on windows long enough for it to mean something: the window cut
      // short around the burst can hold 11 samples in 59 ms (a profile's first sample, and one sample
      // either way is 17 a second there).
      if (w.ms >= 500) expect(w.samples / (w.ms / 1_000)).toBeLessThan(150);
    }
    await stopDaemonThenAnalyzer(daemon, analyzer);
  }, 60_000);

});
