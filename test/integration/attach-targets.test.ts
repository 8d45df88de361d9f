import { spawn } from "node:child_process";
import { statSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { connectInspector } from "@seismo/daemon";
import { cleanup, cpuMsOf, expectCpuAppSplit, httpGet, nodeBinary, seismo, seismoRun, sleep, startFixture, tempDir, track } from "./harness.js";
import { IN_TARGET_KEYS } from "../../daemon/src/in-target/keys.js";

afterEach(cleanup);

describe("attach refuses what it cannot do, in one line, and harms nothing", () => {
  it("a pid that does not exist", async () => {
    const result = await seismoRun(["attach", "4194300"]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toMatch(/No process with pid 4194300\. Check the pid/);
  });

  it("a process that is not Node", async () => {
    const sleeper = track(spawn("sleep", ["30"], { stdio: "ignore" }));
    const result = await seismoRun(["attach", String(sleeper.pid)]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
    expect(result.stderr).toMatch(/is not a Node\.js process.*SEISMO_TARGET_NOT_NODE/);
    expect(sleeper.child.exitCode).toBeNull(); // not signalled
  });

  it("not a pid at all", async () => {
    const result = await seismoRun(["attach", "abc"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/"abc" is not a process id/);
  });

  for (const major of ["22", "24"]) {
    it(`a Node ${major} target started with --disable-sigusr1: refused with the reason, and the target lives on`, async () => {
      const app = await startFixture("cpu-app.cjs", { node: nodeBinary(major), nodeArgs: ["--disable-sigusr1"] });
      const result = await seismoRun(["attach", String(app.pid), "--db", join(tempDir(), "x.db")]);
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split("\n")).toHaveLength(1);
      expect(result.stderr).toMatch(/started with --disable-sigusr1.*Restart it without --disable-sigusr1.*SEISMO_INSPECTOR_BLOCKED/);
      await sleep(200);
      expect(await httpGet(app.port)).toBe("ok");
    });
  }

  it("a target whose inspector would listen beyond loopback is refused before any signal", async () => {
    const app = await startFixture("cpu-app.cjs", { env: { NODE_OPTIONS: "--inspect-port=0.0.0.0:0" } });
    const result = await seismoRun(["attach", String(app.pid)]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/would listen on 0\.0\.0\.0.*SEISMO_INSPECTOR_NOT_LOOPBACK/);
    expect(await httpGet(app.port)).toBe("ok");
  });
});

describe("attach to an inspector that is already open", () => {
  it("uses it without a signal, and the database is private to this user", async () => {
    const app = await startFixture("cpu-app.cjs", { nodeArgs: ["--inspect=127.0.0.1:0"] });
    const db = join(tempDir(), "open.db");
    const before = { cpuMs: cpuMsOf(app.pid), atMs: performance.now() };
    const attach = seismo(["attach", String(app.pid), "--db", db, "--window", "1s"]);
    await attach.waitFor(/window 1:/);
    attach.child.kill("SIGINT");
    expect((await attach.exited).code).toBe(0);
    const cores = (cpuMsOf(app.pid) - before.cpuMs) / (performance.now() - before.atMs);
    expect(app.stderr().match(/Debugger listening/g)).toHaveLength(1); // opened once, by the app itself
    expect(statSync(db).mode & 0o777).toBe(0o600);
    // The final heartbeat on detach, from attach to detach, against what /proc says the target used
    // over a span a little longer. (The fixture is built to be busy 60 % of the time, 45 + 15 ms of
    // every 100, but it gets less of a core when other tests run beside it.)
    const targets = await seismoRun(["targets", "--db", db, "--json"]);
    const [target] = JSON.parse(targets.stdout) as Array<{ status: string; endReason: string; targetCpu: number; targetRssBytes: number }>;
    expect(target).toMatchObject({ status: "ended", endReason: "DAEMON_STOPPED" });
    expect(cores).toBeGreaterThan(0.1);
    expect(Math.abs((target?.targetCpu ?? 0) - cores), `Seismo ${target?.targetCpu} cores, /proc ${cores.toFixed(3)}`).toBeLessThan(0.15);
    expect(target?.targetRssBytes).toBeGreaterThan(10 * 1024 * 1024);
  });
});

describe("attach works on every LTS line", () => {
  it("the event-loop monitor leaves with the sensor, and never keeps the app alive", async () => {
    const app = await startFixture("finite-app.cjs", { env: { NODE_OPTIONS: "--inspect=127.0.0.1:0", RUN_MS: "9000" } });
    const url = (await app.waitFor(/(ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/))[1] as string;
    // The event-loop monitor and the HTTP and database instruments, as the app sees them.
    const monitorType = async (): Promise<unknown> => {
      const session = await connectInspector(url);
      try {
        const answer = await session.send<{ result: { value: unknown } }>("Runtime.evaluate", {
          expression: `${JSON.stringify([IN_TARGET_KEYS.loopMonitor, IN_TARGET_KEYS.httpInstrument, IN_TARGET_KEYS.dbInstrument])}.map((key) => typeof globalThis[Symbol.for(key)]).join()`,
          returnByValue: true,
        });
        return answer.result.value;
      } finally {
        await session.close();
      }
    };
    const db = join(tempDir(), "monitor.db");
    const first = seismo(["attach", String(app.pid), "--db", db, "--window", "1s"]);
    await first.waitFor(/watching CPU and event-loop delay for spikes/);
    expect(await monitorType()).toBe("object,object,object");
    first.child.kill("SIGINT");
    expect((await first.exited).code).toBe(0);
    expect(await monitorType()).toBe("undefined,undefined,undefined");

    // Attached again when the app ends on its own: nothing of Seismo's holds it.
    const second = seismo(["attach", String(app.pid), "--db", db, "--window", "1s"]);
    await second.waitFor(/watching CPU and event-loop delay for spikes/);
    await app.waitFor(/done, letting the event loop empty/, 15_000);
    const endedAt = Date.now();
    expect(await app.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - endedAt).toBeLessThan(3_000);
    expect((await second.exited).code).toBe(0);
  }, 30_000);

  for (const major of ["20", "22", "24"]) {
    it(`Node ${major}: attach, sample, detach`, async () => {
      const app = await startFixture("cpu-app.cjs", { node: nodeBinary(major), env: { NODE_OPTIONS: "--inspect-port=0" } });
      const db = join(tempDir(), `node${major}.db`);
      const attach = seismo(["attach", String(app.pid), "--db", db, "--window", "1s"]);
      // Several windows: V8 loses inlining positions when its profiler is torn down between
      // windows (seen on Node 24), which only shows from the second window on.
      await attach.waitFor(/window 4:/);
      expect(attach.stderr()).toMatch(new RegExp(`attached to pid ${app.pid} \\(node v${major}\\.`));
      // The event-loop monitor installs on every LTS line (process.getBuiltinModule), and leaves with the sensor.
      expect(attach.stderr()).toMatch(/watching CPU and event-loop delay for spikes/);
      expect(attach.stderr()).not.toMatch(/will not be watched/);
      // So are the HTTP endpoints (the same diagnostics channels on every line).
      expect(attach.stderr()).toMatch(/timing HTTP endpoints/);
      for (let i = 0; i < 5; i++) expect(await httpGet(app.port, `/items/${i + 100}?q=${i}`)).toBe("ok");
      await attach.waitFor(/window 6:/);
      attach.child.kill("SIGINT");
      expect((await attach.exited).code).toBe(0);
      const endpoints = await seismoRun(["endpoints", "--db", db, "--json"]);
      expect(JSON.parse(endpoints.stdout)).toMatchObject([{ method: "GET", route: "/items/:id", calls: 5, statuses: { "200": 5 } }]);
      const top = await seismoRun(["top", "--db", db, "--json"]);
      const rows = JSON.parse(top.stdout) as Array<{ name: string; selfShare: number; samples: number }>;
      expect(rows[0]?.name).toBe("hotFunction");
      expectCpuAppSplit(rows);
      expect(rows.find((r) => r.name === "tick")?.selfShare ?? 0).toBeLessThan(0.05); // the caller is not charged for what it inlined
      // The app lives on after the detach (once in a full run on Node 22 it did not answer here:
      // should it happen again, this says how it ended).
      const after = await httpGet(app.port).catch(
        (error: Error) => `no answer (${error.message}); the app's exit code ${app.child.exitCode}, signal ${app.child.signalCode}; its stderr:\n${app.stderr().slice(-2_000)}`,
      );
      expect(after, attach.stderr().slice(-2_000)).toBe("ok");
      app.child.kill("SIGTERM");
      expect(await app.exited).toEqual({ code: 0, signal: null });
    });
  }
});
