import { join } from "node:path";
import { connectNats, NatsCommandClient } from "@seismo/agent-proto";
import { listeningSocketsOf } from "@seismo/daemon";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { eventually } from "../eventually.js";
import { expectCpuAppSplit, FIXTURES, freePort, httpGet, nodeBinary, seismo, seismoRun, sleep, startFixture, tempDir } from "./harness.js";
import { endReason, lastWindowEnd, stopDaemonThenAnalyzer, useNatsSuite, waitForWindows, windowsIn } from "./nats-suite.js";

// The daemon and analyzer over a real broker. What a broker, an analyzer or a database going away
// does to the stream is in nats-faults.test.ts.
const { server, auth, startAnalyzer, startDaemon } = useNatsSuite();

describe("daemon + analyzer over NATS JetStream", () => {
  it("streams profile windows to the analyzer; after SIGTERM the target keeps serving and later exits normally", async () => {
    const db = join(tempDir(), "analyzer.db");
    const app = await startFixture("cpu-app.cjs");
    const analyzer = startAnalyzer(db, "it-main");
    await analyzer.waitFor(/consuming from/);
    const daemon = startDaemon(app.pid, "shop-main", ["--health-port", "0", "--health-host", "127.0.0.1"]);
    await daemon.waitFor(/attached to pid/);
    // --pid honours --health-port, and --health-host keeps it on loopback.
    const healthPort = Number((await daemon.waitFor(/health and metrics on 127\.0\.0\.1:(\d+)/, 15_000))[1]);
    expect(listeningSocketsOf(daemon.pid).map((s) => `${s.address}:${s.port}`)).toContain(`127.0.0.1:${healthPort}`);
    expect((await fetch(`http://127.0.0.1:${healthPort}/readyz`)).status).toBe(200);
    await waitForWindows(db, "shop-main", 4);

    const result = await seismoRun(["top", "--db", db, "--service", "shop-main", "--json"]);
    const rows = JSON.parse(result.stdout) as Array<{ name: string; selfShare: number; samples: number }>;
    expect(rows[0]?.name).toBe("hotFunction");
    expectCpuAppSplit(rows);

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
      const daemon = startDaemon(app.pid, service);
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
    const daemon = startDaemon(app.pid, "shop-kill");
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
    await stopDaemonThenAnalyzer(daemon, analyzer);
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
    await stopDaemonThenAnalyzer(daemon, analyzer);
  });

  it("daemon --inspector attaches to an inspector that is already open, and refuses one beyond loopback", async () => {
    const db = join(tempDir(), "inspector-url.db");
    const app = await startFixture("cpu-app.cjs", { nodeArgs: ["--inspect=127.0.0.1:0"] });
    const url = (await app.waitFor(/Debugger listening on (ws:\/\/\S+)/))[1] as string;
    const analyzer = startAnalyzer(db, "it-inspector");
    const daemon = seismo(["daemon", ...auth(), "--inspector", url, "--window", "1s", "--service", "shop-url"]);
    await daemon.waitFor(new RegExp(`attached to pid ${app.pid}`));
    await waitForWindows(db, "shop-url", 2);
    await stopDaemonThenAnalyzer(daemon, analyzer);

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
    const badToken = await seismoRun(["daemon", "--nats", server().url, "--nats-token", "wrong", "--pid", String(app.pid)]);
    expect(badToken.code).toBe(1);
    expect(badToken.stderr).toMatch(/Cannot connect to NATS at .*(authoriz|Authoriz).*--nats-token/);
    expect(await httpGet(app.port)).toBe("ok"); // never attached, never harmed
  });

  it("the command channel: an analyzer's arm request reaches the daemon that watches the target, and the snapshots come back to its database", async () => {
    const db = join(tempDir(), "commands.db");
    const app = await startFixture("capture-app.cjs");
    const analyzer = startAnalyzer(db, "it-commands");
    await analyzer.waitFor(/consuming from/);
    const daemon = startDaemon(app.pid, "shop-capture");
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
    const nc = await connectNats({ servers: server().url, token: server().token, name: "it-commands" });
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
    await stopDaemonThenAnalyzer(daemon, analyzer);
  });
});
