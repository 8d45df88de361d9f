import type { TargetRef } from "@seismo/agent-proto";
import { ErrorCodes, SeismoError } from "@seismo/agent-proto";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../src/logger.js";
import type { SensorEndReason } from "../src/sensor.js";
import type { DiscoveredSensor } from "../src/target/discovery.js";
import { Discovery, isSeismoProcess } from "../src/target/discovery.js";

/** A fake machine: processes with a start time, and what attaching to each does. */
function machine() {
  let now = 0;
  const processes = new Map<number, number>(); // pid → start
  const outcomes = new Map<number, () => Error | undefined>();
  const attempts: number[] = [];
  const ends = new Map<number, (reason: SensorEndReason) => void>();
  const discovery = new Discovery(
    {
      candidates: () => [...processes.keys()].sort((a, b) => a - b),
      startOf: (pid) => {
        const start = processes.get(pid);
        if (start === undefined) throw new Error("gone");
        return start;
      },
      now: () => now,
      log: silentLogger,
      attach: async (pid) => {
        attempts.push(pid);
        const error = outcomes.get(pid)?.();
        if (error) throw error;
        let end!: (reason: SensorEndReason) => void;
        const done = new Promise<SensorEndReason>((resolve) => (end = resolve));
        ends.set(pid, end);
        const target = { targetId: `t:${pid}:${processes.get(pid)}`, pid } as TargetRef;
        const sensor: DiscoveredSensor = { target, done, stop: async () => end("stopped") };
        return sensor;
      },
    },
    { backoffMs: 1_000, maxBackoffMs: 4_000 },
  );
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  return {
    discovery,
    processes,
    outcomes,
    attempts,
    ends,
    advance: (ms: number) => (now += ms),
    scan: async () => {
      await settle(); // a sensor's end is seen a tick after it ends
      await discovery.scan();
      await settle();
    },
  };
}

describe("discovery", () => {
  it("attaches to each process once, and to a restarted one (a new pid, or a new process under the old pid) again", async () => {
    const m = machine();
    m.processes.set(10, 1).set(11, 1);
    await m.scan();
    await m.scan();
    expect(m.attempts).toEqual([10, 11]);
    expect(m.discovery.sensors().map((s) => s.target.pid)).toEqual([10, 11]);
    // 10 exits; a new process takes its place under another pid; 11's pid is reused by a new process.
    m.ends.get(10)?.("target-exited");
    m.processes.delete(10);
    m.processes.set(12, 5);
    m.ends.get(11)?.("target-exited");
    m.processes.set(11, 6);
    await m.scan();
    expect(m.attempts).toEqual([10, 11, 11, 12]);
    expect(m.discovery.stats).toMatchObject({ attaches: 4, detaches: 2 });
    await m.discovery.stop();
  });

  it("reports a blocked process once and never tries it again, until a new process has its pid", async () => {
    const m = machine();
    m.processes.set(20, 1);
    m.outcomes.set(20, () => new SeismoError(ErrorCodes.INSPECTOR_BLOCKED, "it was started with --disable-sigusr1", { hint: "Restart it without --disable-sigusr1." }));
    await m.scan();
    m.advance(60_000);
    await m.scan();
    expect(m.attempts).toEqual([20]);
    expect(m.discovery.blocked()).toEqual([{ pid: 20, code: ErrorCodes.INSPECTOR_BLOCKED, reason: "it was started with --disable-sigusr1", fix: "Restart it without --disable-sigusr1." }]);
    // One signalled that never opened its inspector is not signalled again either.
    m.processes.set(21, 1);
    m.outcomes.set(21, () => new SeismoError(ErrorCodes.INSPECTOR_TIMEOUT, "did not open"));
    await m.scan();
    await m.scan();
    expect(m.attempts.filter((pid) => pid === 21)).toHaveLength(1);
    // The same pid, a new process.
    m.processes.set(20, 9);
    m.outcomes.delete(20);
    await m.scan();
    await m.scan();
    expect(m.discovery.sensors().map((s) => s.target.pid)).toEqual([20]);
    await m.discovery.stop();
  });

  it("retries a failure that may pass with a doubling back-off, capped", async () => {
    const m = machine();
    m.processes.set(30, 1);
    m.outcomes.set(30, () => new SeismoError(ErrorCodes.INSPECTOR_PROTOCOL, "connection reset"));
    const attemptsAt: number[] = [];
    for (let t = 0; t <= 12_000; t += 500) {
      const before = m.attempts.length;
      await m.scan();
      if (m.attempts.length > before) attemptsAt.push(t);
      m.advance(500);
    }
    // Waits of 1, 2, 4, then 4 s (the cap).
    expect(attemptsAt).toEqual([0, 1_000, 3_000, 7_000, 11_000]);
    await m.discovery.stop();
  });

  it("stops: detaches from everything, scans no more", async () => {
    const m = machine();
    m.processes.set(40, 1);
    await m.scan();
    const [sensor] = m.discovery.sensors();
    await m.discovery.stop();
    expect(await sensor?.done).toBe("stopped");
    m.processes.set(41, 1);
    await m.scan();
    expect(m.attempts).toEqual([40]);
  });

  it("never takes Seismo's own processes for targets", () => {
    expect(isSeismoProcess(["node", "/opt/seismo/cli/bin/seismo.js", "top", "--db", "/var/lib/seismo/seismo.db"])).toBe(true);
    expect(isSeismoProcess(["node", "-e", "/* seismo-healthcheck */ fetch('http://127.0.0.1:9477/healthz')"])).toBe(true);
    expect(isSeismoProcess(["node", "/srv/app/server.js"])).toBe(false);
  });
});
