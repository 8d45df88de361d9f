import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { eventually } from "../eventually.js";
import type { Proc } from "./harness.js";
import { cleanup, FIXTURES, freeFixedPort, nodeBinary, seismo, tempDir, track, useNatsServer } from "./harness.js";

const broker = useNatsServer();
afterEach(cleanup);

/** On every process this test starts, so that the daemon looks at these and nothing else on the machine. */
const MARKER = `seismo-discover-${randomBytes(4).toString("hex")}`;

function startApp(options: { node?: string; nodeArgs?: string[]; env?: Record<string, string> } = {}): Proc {
  const child = spawn(options.node ?? process.execPath, [...(options.nodeArgs ?? []), join(FIXTURES, "discover-app.cjs"), MARKER], {
    env: { ...process.env, NODE_OPTIONS: "", ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return track(child);
}

async function metrics(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

function metric(text: string, line: RegExp): number {
  const match = line.exec(text);
  return match ? Number(match[1]) : Number.NaN;
}

describe("seismo daemon --discover", () => {
  it("attaches to every attachable Node process, reports the blocked one with its reason, ignores the rest, and attaches again after a restart within 5 s", async () => {
    // Two plain servers whose inspectors would open on the same fixed port (as every process's does
    // on 9229 by default; a free one here, so that nothing else on the machine interferes): the
    // first is attached, the second is not signalled at all.
    const fixedPort = await freeFixedPort();
    const plain = startApp({ nodeArgs: [`--inspect-port=${fixedPort}`] });
    await plain.waitFor(/^listening \d+/m, 15_000);
    const inspectPort0 = startApp({ nodeArgs: ["--inspect-port=0"] });
    // A cluster: Node gives each worker the primary's inspector port plus its number (P+1, P+2).
    // (NODE_OPTIONS=--inspect-port=0 would kill the workers on Node 20: 0+1 is not a valid port.)
    const primary = startApp({ nodeArgs: [`--inspect-port=${await freeFixedPort(3)}`], env: { WORKERS: "2" } });
    // --disable-sigusr1 came with Node 22.14.
    const blocked = startApp({ node: nodeBinary("22"), nodeArgs: ["--disable-sigusr1"] });
    const notNode = track(spawn("sh", ["-c", `sleep 120 # ${MARKER}`], { stdio: "ignore" }));
    await Promise.all([inspectPort0, primary, blocked].map((p) => p.waitFor(/^listening \d+/m, 15_000)));
    const workers = [...primary.stdout().matchAll(/worker (\d+) listening/g)].map((m) => Number(m[1]));
    expect(workers).toHaveLength(2);

    const analyzer = seismo(["analyzer", "--db", join(tempDir(), "discover.db"), "--health-port", "0", ...broker.auth(), "--durable", "it-discover"]);
    const analyzerPort = Number((await analyzer.waitFor(/health and metrics on 0\.0\.0\.0:(\d+)/, 15_000))[1]);
    const daemon = seismo(["daemon", "--discover", "--only", MARKER, "--health-port", "0", ...broker.auth(), "--window", "1s"]);
    const healthPort = Number((await daemon.waitFor(/health and metrics on 0\.0\.0\.0:(\d+)/, 15_000))[1]);
    const attachable = [plain.pid, inspectPort0.pid, primary.pid, ...workers];
    for (const pid of attachable) {
      // What the apps said too, should one not be attached (a cluster worker's inspector that could not open says why there).
      await daemon.waitFor(new RegExp(`attached to pid ${pid} `), 20_000).catch((error: unknown) => {
        throw new Error(`${(error as Error).message}\napps' stderr:\n${[plain, inspectPort0, primary].map((app) => app.stderr()).join("\n")}`);
      });
    }
    // Started once the first holds the port (started together, either may win it).
    const second = startApp({ nodeArgs: [`--inspect-port=${fixedPort}`] });
    await daemon.waitFor(new RegExp(`attaching to pid ${second.pid} failed \\(Process ${second.pid} would open its inspector on port ${fixedPort}, which another process already listens on.*SEISMO_INSPECTOR_PORT_TAKEN`), 20_000);
    await daemon.waitFor(new RegExp(`not attaching to pid ${blocked.pid}: .*--disable-sigusr1.*Restart it without --disable-sigusr1`), 20_000);

    const text = await metrics(healthPort);
    expect(metric(text, /^seismo_daemon_targets_attached (\d+)$/m)).toBe(5);
    expect(metric(text, /^seismo_daemon_targets_blocked\{code="SEISMO_INSPECTOR_BLOCKED"\} (\d+)$/m)).toBe(1);
    // One window from each of the five, as they rotate.
    await eventually(async () => metric(await metrics(healthPort), /^seismo_daemon_windows_published_total (\d+)$/m) >= 5, { timeoutMs: 10_000, everyMs: 200 });
    expect((await fetch(`http://127.0.0.1:${healthPort}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${healthPort}/readyz`)).status).toBe(200);
    // The analyzer's side: what it stored, on its own port.
    expect((await fetch(`http://127.0.0.1:${analyzerPort}/readyz`)).status).toBe(200);
    expect(metric(await metrics(analyzerPort), /^seismo_analyzer_windows_stored_total (\d+)$/m)).toBeGreaterThanOrEqual(5);
    // Neither the shell nor the blocked process was signalled or attached; each attachable one once.
    expect(daemon.stderr()).not.toMatch(new RegExp(`attached to pid (${notNode.pid}|${blocked.pid}) `));
    for (const pid of attachable) expect(daemon.stderr().match(new RegExp(`attached to pid ${pid} `, "g"))).toHaveLength(1);
    expect(daemon.stderr().match(new RegExp(`not attaching to pid ${blocked.pid}:`, "g"))).toHaveLength(1);
    // The second fixed-port server was never signalled: its inspector never tried to open.
    expect(second.stderr()).not.toMatch(/Debugger listening|Starting inspector/);
    expect(second.child.exitCode).toBeNull();

    // The plain app dies and comes back (a new pid, the same command line): attached again within
    // 5 s of its start. (The second server goes first, or it would take the port it waits for.)
    second.child.kill("SIGKILL");
    plain.child.kill("SIGKILL");
    await Promise.all([second.exited, plain.exited]);
    const startedAt = Date.now();
    const restarted = startApp({ nodeArgs: [`--inspect-port=${fixedPort}`] });
    await daemon.waitFor(new RegExp(`attached to pid ${restarted.pid} `), 5_000);
    const reattachMs = Date.now() - startedAt;
    console.log(`restarted app attached again ${reattachMs} ms after it was started`);
    expect(reattachMs).toBeLessThan(5_000);
    expect(metric(await metrics(healthPort), /^seismo_daemon_targets_attached (\d+)$/m)).toBe(5);

    daemon.child.kill("SIGTERM");
    expect((await daemon.exited).code).toBe(0);
    analyzer.child.kill("SIGTERM");
    expect((await analyzer.exited).code).toBe(0);
    // The apps keep serving after the daemon has gone.
    for (const app of [restarted, inspectPort0, primary]) expect(app.child.exitCode).toBeNull();
  }, 90_000);
});
