import { spawn } from "node:child_process";
import { unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { listeningSocketsOf } from "@seismo/daemon";
import { afterEach, describe, expect, it } from "vitest";
import type { Proc } from "./harness.js";
import { eventually } from "../eventually.js";
import { cleanup, FIXTURES, freeFixedPort, httpGet, nodeBinary, seismo, seismoRun, startFixture, tempDir, track } from "./harness.js";

afterEach(cleanup);

/** The ports the process listens on, as a sorted list ("127.0.0.1:39473"). */
const listening = (pid: number): string[] =>
  listeningSocketsOf(pid)
    .map((s) => `${s.address}:${s.port}`)
    .sort();

/** Starts a debugger that is not Seismo's on the inspector at `port`; resolves once it is connected. */
async function otherDebugger(port: number): Promise<Proc> {
  const client = track(spawn(process.execPath, [join(FIXTURES, "debugger-client.mjs"), String(port)], { stdio: ["ignore", "pipe", "pipe"] }));
  await client.waitFor(/^connected$/m, 10_000);
  return client;
}

/** The capture app with no NODE_OPTIONS in its environment (else the env file's would not apply), loading `envFile`. */
async function withEnvFile(envFile: string): Promise<Proc & { port: number }> {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const app = track(spawn(process.execPath, [`--env-file=${envFile}`, join(FIXTURES, "capture-app.cjs")], { env, stdio: ["ignore", "pipe", "pipe"] }));
  return { ...app, port: Number((await app.waitFor(/listening (\d+)/))[1]) };
}

const inspectorPort = (pid: number, before: string[]): number => {
  const fresh = listening(pid).filter((s) => !before.includes(s));
  expect(fresh, "the inspector Seismo opened").toHaveLength(1);
  return Number(fresh[0]?.split(":").at(-1));
};

describe("the inspector Seismo opens is closed again when it leaves", () => {
  for (const major of ["20", "22", "24"]) {
    it(`Node ${major}: after seismo attach detaches, no port listens that did not before, even with another debugger connected (cut off, told, the app not held)`, async () => {
      // Closed until Seismo's SIGUSR1 opens it (on a free port, so that parallel test files never meet on 9229).
      const app = await startFixture("capture-app.cjs", { node: nodeBinary(major) });
      const before = listening(app.pid);
      const db = join(tempDir(), "seismo.db");
      const attach = seismo(["attach", String(app.pid), "--db", db, "--window", "1s"]);
      await attach.waitFor(/attached to pid/, 20_000);
      const port = inspectorPort(app.pid, before);
      const other = await otherDebugger(port);

      attach.child.kill("SIGINT");
      expect((await attach.exited).code, attach.stderr()).toBe(0);
      // Closing ended every session at once: the other debugger was cut off, and named.
      expect(attach.stderr()).toMatch(new RegExp(`warning: closed the inspector \\(port ${port}\\) it had opened; this disconnected pid ${other.pid} \\(.*debugger-client\\.mjs.*\\), a debugger that was not Seismo's`));
      await other.waitFor(/^disconnected$/m, 5_000);
      expect(listening(app.pid)).toEqual(before);
      // The app was not held: it answers at once.
      const started = Date.now();
      expect(await httpGet(app.port, "/order?id=1")).toMatch(/total/);
      expect(Date.now() - started).toBeLessThan(1_000);
      // The goodbye says so where operators look.
      const targets = await seismoRun(["targets", "--db", db]);
      expect(targets.stdout).toMatch(new RegExp(`warning: pid ${app.pid} \\(.*\\) on .*: Seismo closed the inspector \\(port ${port}\\) it had opened; this disconnected pid ${other.pid}`));
    });
  }

  it("an inspector that was open before Seismo came is left open, and a capture beside a sensor leaves it to the last one out", async () => {
    const own = await startFixture("capture-app.cjs", { env: { NODE_OPTIONS: "--inspect=127.0.0.1:0" } });
    const ownBefore = listening(own.pid);
    const db = join(tempDir(), "seismo.db");
    const attachOwn = seismo(["attach", String(own.pid), "--db", db, "--window", "1s"]);
    await attachOwn.waitFor(/attached to pid/, 20_000);
    attachOwn.child.kill("SIGINT");
    expect((await attachOwn.exited).code).toBe(0);
    expect(attachOwn.stderr()).toMatch(/left the inspector \(port \d+\) open: it was open before Seismo came/);
    expect(listening(own.pid)).toEqual(ownBefore);

    // Seismo opens it (attach), a capture joins and leaves, then the attach leaves: closed once, by the last.
    const app = await startFixture("capture-app.cjs", { env: { NODE_OPTIONS: "--inspect-port=127.0.0.1:0" } });
    const before = listening(app.pid);
    const attach = seismo(["attach", String(app.pid), "--db", db, "--window", "1s"]);
    await attach.waitFor(/attached to pid/, 20_000);
    const capture = seismo(["capture", `priceOrder@${join(FIXTURES, "capture-app.cjs")}`, "--pid", String(app.pid), "--hits", "1", "--ttl", "20s", "--db", join(tempDir(), "capture.db")]);
    await capture.waitFor(/armed at/, 15_000);
    await httpGet(app.port, "/order?id=2");
    expect((await capture.exited).code, capture.stderr()).toBe(0);
    expect(capture.stderr()).toMatch(/left the inspector \(port \d+\) open for 1 other Seismo sensor\(s\) using it; the last one closes it/);
    expect(listening(app.pid)).toHaveLength(before.length + 1);
    attach.child.kill("SIGINT");
    expect((await attach.exited).code).toBe(0);
    expect(attach.stderr()).toMatch(/closed the inspector \(port \d+\) it had opened$/m);
    expect(listening(app.pid)).toEqual(before);
  });

  it("a Seismo that dies (SIGKILL) leaves nothing open: the target closes the inspector itself when the lease runs out", async () => {
    const app = await startFixture("capture-app.cjs", { env: { NODE_OPTIONS: "--inspect-port=127.0.0.1:0" } });
    const before = listening(app.pid);
    // The daemon's lease is three heartbeats (45 s); this holder renews every 500 ms (a 1.5 s lease).
    const holder = track(spawn(process.execPath, [join(FIXTURES, "lease-holder.mjs"), String(app.pid), "500"], { stdio: ["ignore", "pipe", "pipe"] }));
    await holder.waitFor(/^held \d+ opened=true$/m, 15_000);
    expect(listening(app.pid)).toHaveLength(before.length + 1);
    holder.child.kill("SIGKILL");
    await holder.exited;
    // Lease 1.5 s, looked at every 5 s in the target.
    await eventually(() => (listening(app.pid).length === before.length ? true : undefined), { timeoutMs: 10_000 });
    expect(listening(app.pid)).toEqual(before);
  });

  it("an inspect address from an --env-file is refused before the signal, and one Seismo could not read is closed at once, unused", async () => {
    const dir = tempDir();
    const envFile = join(dir, "app.env");
    writeFileSync(envFile, "NODE_OPTIONS=--inspect-port=0.0.0.0:0\n");
    const read = await withEnvFile(envFile);
    const readBefore = listening(read.pid);
    const refused = await seismoRun(["attach", String(read.pid), "--db", join(dir, "a.db")]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/Cannot attach to process \d+: its inspector would listen on 0\.0\.0\.0, reachable from the network.*\[SEISMO_INSPECTOR_NOT_LOOPBACK\]/);
    expect(listening(read.pid)).toEqual(readBefore);

    // The file is gone once the app has read it (a secrets mount, a temp file): only the signal tells.
    const hidden = await withEnvFile(envFile);
    unlinkSync(envFile);
    const hiddenBefore = listening(hidden.pid);
    const closed = await seismoRun(["attach", String(hidden.pid), "--db", join(dir, "b.db")]);
    expect(closed.code).not.toBe(0);
    expect(closed.stderr).toMatch(/Process \d+ opened its inspector on 0\.0\.0\.0:\d+, beyond loopback; Seismo closed it again at once, unused\./);
    expect(listening(hidden.pid)).toEqual(hiddenBefore);
  });

  it("Seismo asks only the inspector's own port whether it is one: the app's ports get no request", async () => {
    // A random inspector port (0) and the app on a fixed one: the inspector can only be in the
    // ephemeral range. Seismo opens it (attach), then finds it open (a capture beside it).
    const fixed = await startFixture("quiet-app.cjs", { env: { PORT: String(await freeFixedPort()), NODE_OPTIONS: "--inspect-port=127.0.0.1:0" } });
    const attach = seismo(["attach", String(fixed.pid), "--db", join(tempDir(), "a.db"), "--window", "1s"]);
    await attach.waitFor(/attached to pid/, 20_000);
    const capture = seismo(["capture", `${join(FIXTURES, "quiet-app.cjs")}:6`, "--pid", String(fixed.pid), "--hits", "1", "--ttl", "20s", "--db", join(tempDir(), "c.db")]);
    await capture.waitFor(/armed at/, 15_000);
    expect(await httpGet(fixed.port, "/mine")).toBe("ok");
    expect((await capture.exited).code, capture.stderr()).toBe(0);
    attach.child.kill("SIGINT");
    expect((await attach.exited).code, attach.stderr()).toBe(0);
    expect(fixed.stdout().match(/^request .*$/gm)).toEqual(["request GET /mine"]);

    // A fixed inspector port, and the app on a random one: only that port is asked.
    const inspector = await freeFixedPort();
    const random = await startFixture("quiet-app.cjs", { env: { NODE_OPTIONS: `--inspect-port=127.0.0.1:${inspector}` } });
    const second = seismo(["attach", String(random.pid), "--db", join(tempDir(), "b.db"), "--window", "1s"]);
    await second.waitFor(new RegExp(`attached to pid ${random.pid}`), 20_000);
    expect(listening(random.pid)).toContain(`127.0.0.1:${inspector}`);
    second.child.kill("SIGINT");
    expect((await second.exited).code, second.stderr()).toBe(0);
    expect(random.stdout()).not.toMatch(/^request /m);
  });
});
