import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { connectNats, encodeEvent, NatsCommandClient, NatsEventPublisher } from "@seismo/agent-proto";
import { listeningSocketsOf } from "@seismo/daemon";
import Database from "better-sqlite3";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { sampleEvents } from "../../agent-proto/test/sample-events.js";
import { eventually } from "../eventually.js";
import type { NatsServer, Proc } from "./harness.js";
import { cleanup, FIXTURES, freePort, httpGet, nodeBinary, seismo, seismoRun, sleep, startFixture, startLoad, startNatsServer, tempDir } from "./harness.js";

let nats: NatsServer;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats.dispose();
});
afterEach(cleanup);

const auth = () => ["--nats", nats.url, "--nats-token", nats.token];

/** What `read` finds in the database, or `absent` while the analyzer has not made it (or its tables) yet. */
function readDb<T>(db: string, absent: T, read: (conn: Database.Database) => T): T {
  try {
    const conn = new Database(db, { readonly: true, fileMustExist: true });
    try {
      return read(conn);
    } finally {
      conn.close();
    }
  } catch {
    return absent;
  }
}

function windowsIn(db: string, service: string): number[] {
  return readDb(db, [], (conn) => (conn.prepare("SELECT sequence FROM windows WHERE service = ? ORDER BY sequence").all(service) as Array<{ sequence: number }>).map((r) => r.sequence));
}

function waitForWindows(db: string, service: string, count: number, timeoutMs = 25_000): Promise<number[]> {
  let seqs: number[] = [];
  return eventually(
    () => {
      seqs = windowsIn(db, service);
      return seqs.length >= count && seqs;
    },
    { timeoutMs, everyMs: 250, explain: () => `only ${seqs.length} window(s) of ${service} arrived in ${db}` },
  );
}

function endReason(db: string, service: string): string | undefined {
  return readDb(db, undefined, (conn) => (conn.prepare("SELECT end_reason FROM targets WHERE service = ?").get(service) as { end_reason: string | null } | undefined)?.end_reason ?? undefined);
}

function lastWindowEnd(db: string, service: string): number {
  return readDb(db, 0, (conn) => (conn.prepare("SELECT MAX(end_ms) AS lastEnd FROM windows WHERE service = ?").get(service) as { lastEnd: number | null }).lastEnd ?? 0);
}

function startAnalyzer(db: string, durable: string): Proc {
  return seismo(["analyzer", ...auth(), "--db", db, "--durable", durable]);
}

describe("daemon + analyzer over NATS JetStream", () => {
  it("streams profile windows to the analyzer; after SIGTERM the target keeps serving and later exits normally", async () => {
    const db = join(tempDir(), "analyzer.db");
    const app = await startFixture("cpu-app.cjs");
    const analyzer = startAnalyzer(db, "it-main");
    await analyzer.waitFor(/consuming from/);
    const daemon = seismo(["daemon", ...auth(), "--pid", String(app.pid), "--window", "1s", "--service", "shop-main", "--health-port", "0", "--health-host", "127.0.0.1"]);
    await daemon.waitFor(/attached to pid/);
    // --pid honours --health-port, and --health-host keeps it on loopback.
    const healthPort = Number((await daemon.waitFor(/health and metrics on 127\.0\.0\.1:(\d+)/, 15_000))[1]);
    expect(listeningSocketsOf(daemon.pid).map((s) => `${s.address}:${s.port}`)).toContain(`127.0.0.1:${healthPort}`);
    expect((await fetch(`http://127.0.0.1:${healthPort}/readyz`)).status).toBe(200);
    await waitForWindows(db, "shop-main", 4);

    const result = await seismoRun(["top", "--db", db, "--service", "shop-main", "--json"]);
    const rows = JSON.parse(result.stdout) as Array<{ name: string; selfShare: number; samples: number }>;
    expect(rows[0]?.name).toBe("hotFunction");
    // The fixture spends 45 of every 60 busy ms in hotFunction, the rest in coldFunction: 75 % of
    // their samples, give or take what sampling allows. (A fixed 70-80 % band of all CPU was
    // under 2 sigma of sampling noise for four windows, and the runtime's own share moved it.)
    const hot = rows.find((r) => r.name === "hotFunction")?.samples ?? 0;
    const cold = rows.find((r) => r.name === "coldFunction")?.samples ?? 0;
    const sigma = Math.sqrt((0.75 * 0.25) / (hot + cold));
    expect(hot + cold).toBeGreaterThan(100);
    expect(Math.abs(hot / (hot + cold) - 0.75), `hotFunction ${hot} samples, coldFunction ${cold}`).toBeLessThan(4 * sigma);

    daemon.child.kill("SIGTERM");
    expect((await daemon.exited).code, daemon.stderr()).toBe(0);
    expect(daemon.stderr()).toMatch(/detached from pid/);
    expect(await httpGet(app.port)).toBe("ok");
    await sleep(300);
    expect(await httpGet(app.port)).toBe("ok");

    const started = Date.now();
    app.child.kill("SIGTERM");
    expect(await app.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(2_000);

    analyzer.child.kill("SIGTERM");
    expect((await analyzer.exited).code).toBe(0);
  });

  for (const major of ["20", "22"]) {
    it(`Node ${major}: when the target exits, the daemon says so and ends, and the target is never held waiting`, async () => {
      const db = join(tempDir(), "exit.db");
      const service = `shop-exit-${major}`;
      const app = await startFixture("cpu-app.cjs", major === "20" ? {} : { node: nodeBinary(major) });
      const analyzer = startAnalyzer(db, `it-exit-${major}`);
      const daemon = seismo(["daemon", ...auth(), "--pid", String(app.pid), "--window", "1s", "--service", service]);
      await daemon.waitFor(/attached to pid/);
      // Two windows stored, then the app ends itself. (A fixed 4.5 s exit raced the attach, which
      // reads the repository's files for the code fingerprint: under load only one window came.)
      await waitForWindows(db, service, 2);
      const exitAskedMs = Date.now();
      expect(await httpGet(app.port, "/exit")).toBe("ok");
      expect(await app.exited).toEqual({ code: 0, signal: null });
      const ended = await daemon.exited;
      expect(ended.code, daemon.stderr()).toBe(0);
      expect(daemon.stderr()).toMatch(new RegExp(`target pid ${app.pid} exited`));
      // Windows cover the run without gaps, the goodbye says why it ended...
      // ...and on Node 22 and later the last, partial window is read on the way out: it ends at the
      // exit, not at the rotation before it. (A Node 20 target that is exiting answers a call into
      // its JavaScript with a SIGSEGV, so there the daemon asks nothing and gives that window up.)
      const lastOnTheWayOut = major !== "20";
      await eventually(() => endReason(db, service) === "TARGET_EXITED" && (!lastOnTheWayOut || lastWindowEnd(db, service) >= exitAskedMs), {
        timeoutMs: 15_000,
        explain: () => `end reason ${endReason(db, service)}, last window ending ${lastWindowEnd(db, service) - exitAskedMs} ms after the exit was asked`,
      });
      const seqs = windowsIn(db, service);
      expect(seqs.length).toBeGreaterThanOrEqual(2);
      expect(seqs).toEqual(seqs.map((_, i) => i));
      analyzer.child.kill("SIGTERM");
      await analyzer.exited;
    });
  }

  it("the daemon killed with SIGKILL leaves the target serving, and it still exits normally", async () => {
    const app = await startFixture("cpu-app.cjs");
    const daemon = seismo(["daemon", ...auth(), "--pid", String(app.pid), "--window", "1s", "--service", "shop-kill"]);
    await daemon.waitFor(/attached to pid/);
    daemon.child.kill("SIGKILL");
    await daemon.exited;
    for (let i = 0; i < 3; i++) {
      expect(await httpGet(app.port)).toBe("ok");
      await sleep(200);
    }
    const started = Date.now();
    app.child.kill("SIGTERM");
    expect(await app.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("the analyzer killed mid-stream and restarted: every window arrives exactly once", async () => {
    const db = join(tempDir(), "crash.db");
    const app = await startFixture("cpu-app.cjs");
    const first = startAnalyzer(db, "it-crash");
    const daemon = seismo(["daemon", ...auth(), "--pid", String(app.pid), "--window", "1s", "--service", "shop-crash"]);
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
    const daemon = seismo(["daemon", ...auth(), "--pid", String(app.pid), "--window", "1s", "--service", "shop-beside"]);
    await waitForWindows(db, "shop-beside", 1);
    const nc = await connectNats({ servers: nats.url, name: "test", token: nats.token });
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
    const watcher = await connectNats({ servers: nats.url, name: "test-watcher", token: nats.token });
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
    const daemon = seismo(["daemon", ...auth(), "--pid", String(app.pid), "--window", "1s", "--service", "shop-locked"]);
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
    daemon.child.kill("SIGTERM");
    expect((await daemon.exited).code).toBe(0);
    analyzer.child.kill("SIGTERM");
    await analyzer.exited;
  });

  it("loses nothing across a broker restart: the daemon buffers, then every window arrives", async () => {
    const db = join(tempDir(), "outage.db");
    const app = await startFixture("cpu-app.cjs");
    const analyzer = startAnalyzer(db, "it-outage");
    const daemon = seismo(["daemon", ...auth(), "--pid", String(app.pid), "--window", "1s", "--service", "shop-outage"]);
    await waitForWindows(db, "shop-outage", 2);
    await nats.stop();
    await sleep(3_000);
    await nats.start();
    await daemon.waitFor(/publishing recovered/, 20_000);
    const before = windowsIn(db, "shop-outage").length;
    const seqs = await waitForWindows(db, "shop-outage", before + 2);
    expect(seqs).toEqual(seqs.map((_, i) => i)); // no window missing
    expect(daemon.stderr()).toMatch(/publishing failed, buffering and retrying/);
    daemon.child.kill("SIGTERM");
    expect((await daemon.exited).code).toBe(0);
    analyzer.child.kill("SIGTERM");
    await analyzer.exited;
  });

  it("a spike while no analyzer runs: the burst ends within its bound, windows go on, and the incident is made once the analyzer is back", async () => {
    const db = join(tempDir(), "spike.db");
    const app = await startFixture("spike-app.cjs");
    const load = startLoad(app.port, 80);
    const daemon = seismo(["daemon", ...auth(), "--pid", String(app.pid), "--window", "1s", "--burst-duration", "1s", "--service", "shop-spike"]);
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
    daemon.child.kill("SIGTERM");
    expect((await daemon.exited).code).toBe(0);
    analyzer.child.kill("SIGTERM");
    await analyzer.exited;
  }, 60_000);

  it("daemon --match --wait finds the app by its command line and attaches again after it restarts", async () => {
    const db = join(tempDir(), "restart.db");
    const marker = `restart-marker-${Date.now()}`;
    const analyzer = startAnalyzer(db, "it-restart");
    const daemon = seismo(["daemon", ...auth(), "--match", marker, "--wait", "--window", "1s", "--service", "shop-restart"]);
    await daemon.waitFor(/waiting for a Node\.js process/);
    const first = await startFixture("cpu-app.cjs", { nodeArgs: [`--title=${marker}`] });
    await daemon.waitFor(new RegExp(`attached to pid ${first.pid}`));
    first.child.kill("SIGTERM");
    expect(await first.exited).toEqual({ code: 0, signal: null });
    await daemon.waitFor(/waiting for the app to start again/);
    const restartedAt = Date.now();
    const second = await startFixture("cpu-app.cjs", { nodeArgs: [`--title=${marker}`] });
    await daemon.waitFor(new RegExp(`attached to pid ${second.pid}`));
    expect(Date.now() - restartedAt).toBeLessThan(5_000);
    await waitForWindows(db, "shop-restart", 3);
    const conn = new Database(db, { readonly: true });
    expect((conn.prepare("SELECT COUNT(*) AS n FROM targets WHERE service = 'shop-restart'").get() as { n: number }).n).toBe(2);
    conn.close();
    daemon.child.kill("SIGTERM");
    expect((await daemon.exited).code).toBe(0);
    analyzer.child.kill("SIGTERM");
    await analyzer.exited;
  });

  it("an app an uncaught exception kills: restarted, it gets the error probe at once, and the crash's next occurrence comes with its values", async () => {
    const db = join(tempDir(), "crash-loop.db");
    const marker = `crash-marker-${Date.now()}`;
    const analyzer = startAnalyzer(db, "it-crash");
    const daemon = seismo(["daemon", ...auth(), "--match", marker, "--wait", "--window", "1s", "--no-spikes", "--service", "shop-crash"]);
    await daemon.waitFor(/waiting for a Node\.js process/);
    const crashing = { nodeArgs: [`--title=${marker}`], env: { CRASH: "1" } };
    const first = await startFixture("error-app.cjs", crashing);
    await daemon.waitFor(new RegExp(`attached to pid ${first.pid}.*watching uncaught exceptions`));
    await httpGet(first.port, "/?qty=500");
    expect((await first.exited).code).not.toBe(0);
    // Its supervisor restarts it; the daemon attaches again and arms the probe before any request.
    await daemon.waitFor(/waiting for the app to start again/);
    const second = await startFixture("error-app.cjs", crashing);
    await daemon.waitFor(/armed a capture at \S*error-app\.cjs:13 for RangeError: quantity 500 .*, reported by an earlier process/);
    await httpGet(second.port, "/?qty=700");
    expect((await second.exited).code).not.toBe(0);

    interface ErrorSnapshot {
      hit: number;
      error: string;
      locals: Array<{ name: string; type: string; value?: string; children?: Array<{ name: string; value?: string }> }>;
    }
    let snapshots: ErrorSnapshot[] = [];
    await eventually(
      async () => {
        const listed = await seismoRun(["snapshots", "--errors", "--db", db, "--json"]);
        if (listed.code === 0) snapshots = JSON.parse(listed.stdout) as ErrorSnapshot[];
        return snapshots.length >= 2;
      },
      { timeoutMs: 15_000, everyMs: 300, explain: () => `${snapshots.length} error snapshot(s) stored` },
    ).catch(() => undefined); // the assertions below say what is missing
    // Newest first: the second process's crash, with the values it ran with; the first one's report.
    expect(snapshots.map((s) => s.hit)).toEqual([1, 0]);
    const [captured] = snapshots as [ErrorSnapshot];
    expect(captured.error).toMatch(/^RangeError: quantity 700 over 105 on attempt \d+ \(key \[redacted\]\)$/);
    expect(captured.locals.find((l) => l.name === "order")?.children?.find((c) => c.name === "qty")?.value).toBe("700");
    expect(captured.locals.find((l) => l.name === "apiKey")?.value).toBe("[redacted]");
    daemon.child.kill("SIGTERM");
    expect((await daemon.exited).code).toBe(0);
    analyzer.child.kill("SIGTERM");
    await analyzer.exited;
  });

  it("daemon --inspector attaches to an inspector that is already open, and refuses one beyond loopback", async () => {
    const db = join(tempDir(), "inspector-url.db");
    const app = await startFixture("cpu-app.cjs", { nodeArgs: ["--inspect=127.0.0.1:0"] });
    const url = (await app.waitFor(/Debugger listening on (ws:\/\/\S+)/))[1] as string;
    const analyzer = startAnalyzer(db, "it-inspector");
    const daemon = seismo(["daemon", ...auth(), "--inspector", url, "--window", "1s", "--service", "shop-url"]);
    await daemon.waitFor(new RegExp(`attached to pid ${app.pid}`));
    await waitForWindows(db, "shop-url", 2);
    daemon.child.kill("SIGTERM");
    expect((await daemon.exited).code).toBe(0);
    analyzer.child.kill("SIGTERM");
    await analyzer.exited;

    const remote = await seismoRun(["daemon", "--nats", "nats://127.0.0.1:1", "--inspector", "ws://10.1.2.3:9229/abc"]);
    expect(remote.code).toBe(1);
    expect(remote.stderr).toMatch(/Refusing the inspector at 10\.1\.2\.3: it is not on loopback.*SEISMO_INSPECTOR_NOT_LOOPBACK/);
  });

  it("an unreachable broker or a wrong token gives one clear line naming the URL", async () => {
    const app = await startFixture("cpu-app.cjs");
    const url = `nats://127.0.0.1:${await freePort()}`;
    const down = await seismoRun(["daemon", "--nats", url, "--pid", String(app.pid)]);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain(`Cannot connect to NATS at ${url}`);
    expect(down.stderr).toMatch(/SEISMO_BROKER_UNREACHABLE/);
    const analyzerDown = await seismoRun(["analyzer", "--nats", url, "--db", join(tempDir(), "x.db")]);
    expect(analyzerDown.code).toBe(1);
    expect(analyzerDown.stderr).toContain(`Cannot connect to NATS at ${url}`);
    const badToken = await seismoRun(["daemon", "--nats", nats.url, "--nats-token", "wrong", "--pid", String(app.pid)]);
    expect(badToken.code).toBe(1);
    expect(badToken.stderr).toMatch(/Cannot connect to NATS at .*(authoriz|Authoriz).*--nats-token/);
    expect(await httpGet(app.port)).toBe("ok"); // never attached, never harmed
  });

  it("the command channel: an analyzer's arm request reaches the daemon that watches the target, and the snapshots come back to its database", async () => {
    const db = join(tempDir(), "commands.db");
    const app = await startFixture("capture-app.cjs");
    const analyzer = startAnalyzer(db, "it-commands");
    await analyzer.waitFor(/consuming from/);
    const daemon = seismo(["daemon", ...auth(), "--pid", String(app.pid), "--window", "1s", "--service", "shop-capture"]);
    await daemon.waitFor(/attached to pid/);
    await waitForWindows(db, "shop-capture", 1);
    const conn = new Database(db, { readonly: true });
    const target = conn.prepare("SELECT target_id AS targetId, daemon_id AS daemonId FROM targets WHERE service = 'shop-capture'").get() as { targetId: string; daemonId: string };
    conn.close();
    // By hand, from wherever the database is: `seismo capture --service` asks the daemon over NATS,
    // and waits for the analyzer to store the snapshots. The file is given relative: the database
    // knows the path the process sees.
    const capture = seismo(["capture", "priceOrder@fixtures/capture-app.cjs", "--service", "shop-capture", ...auth(), "--db", db, "--hits", "2", "--ttl", "30s", "--json"]);
    await capture.waitFor(/capture \S+ armed on pid \d+ on \S+: priceOrder at .*capture-app\.cjs:\d+/, 15_000);
    // Spaced out: a probe takes at most one snapshot per 100 ms unless told otherwise.
    for (let i = 0; i < 4; i++) {
      await httpGet(app.port, `/order?id=${i + 1}`);
      await sleep(150);
    }
    const captured = await capture.exited;
    expect(captured.code, capture.stderr()).toBe(0);
    const printed = JSON.parse(capture.stdout()) as Array<{ functionName: string; hit: number; service: string; trigger: string }>;
    expect(printed.map((x) => [x.functionName, x.hit, x.service, x.trigger])).toEqual([
      ["priceOrder", 1, "shop-capture", "manual"],
      ["priceOrder", 2, "shop-capture", "manual"],
    ]);
    const nobody = await seismoRun(["capture", "priceOrder", "--service", "no-such-service", ...auth(), "--db", db]);
    expect(nobody.code).not.toBe(0);
    expect(nobody.stderr).toMatch(/No live process of service "no-such-service"/);

    // The analyzer's side, as it asks on an incident: over its own authenticated connection.
    const nc = await connectNats({ servers: nats.url, token: nats.token, name: "it-commands" });
    try {
      const client = new NatsCommandClient(nc);
      const file = join(FIXTURES, "capture-app.cjs");
      // A target the daemon does not watch, and a daemon that is not there: each a reply with a code.
      expect(await client.request(target.daemonId, { kind: "arm", targetId: "elsewhere:1:1", trigger: "manual", file, functionName: "priceOrder" })).toMatchObject({
        ok: false,
        error: { code: "SEISMO_TARGET_NOT_FOUND" },
      });
      expect(await client.request("no-such-daemon", { kind: "arm", targetId: target.targetId, trigger: "manual", file }, 1_000)).toMatchObject({
        ok: false,
        error: { code: "SEISMO_COMMAND_TIMEOUT" },
      });
    } finally {
      await nc.close();
    }
    daemon.child.kill("SIGTERM");
    expect((await daemon.exited).code).toBe(0);
    analyzer.child.kill("SIGTERM");
    await analyzer.exited;
  });
});
