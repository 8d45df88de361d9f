import type { Snapshot, TargetRef } from "@seismo/agent-proto";
import { describe, expect, it } from "vitest";
import type { ArmRequest, ThrownReport } from "../src/capture/captures.js";
import { ErrorMemory } from "../src/capture/error-memory.js";
import { ErrorWatch } from "../src/capture/error-watch.js";
import { silentLogger } from "../src/logger.js";

const target: TargetRef = { targetId: "t:1:1", daemonId: "d", service: "svc", deployment: "v1", pid: 1, host: "h", pod: "", namespace: "" };

function setup(settings = {}, failures = 0, memory?: ErrorMemory, deployment = "v1") {
  let failuresLeft = failures;
  let now = 1_000_000;
  const published: Snapshot[] = [];
  const armed: ArmRequest[] = [];
  const watch = new ErrorWatch(
    {
      target: () => ({ ...target, deployment }),
      ...(memory ? { memory } : {}),
      publish: (s) => published.push(s),
      arm: async (request) => {
        if (failuresLeft-- > 0) throw new Error("Cannot find context with specified id");
        armed.push(request);
      },
      log: silentLogger,
      now: () => now,
    },
    settings,
  );
  return { watch, published, armed, advance: (ms: number) => (now += ms) };
}

const thrown = (line: number, message = "bad quantity", name = "RangeError"): ThrownReport => ({
  name,
  message,
  stack: [`checkQuantity (/app/orders.js:${line}:11)`, "process.processImmediate (node:internal/timers:483:21)"],
  origin: "uncaughtException",
  at: 1_000_000,
});

describe("the error watch", () => {
  it("publishes a first occurrence without values, redacted, and arms its throw site for the next one", async () => {
    const { watch, published, armed } = setup();
    watch.onThrown(thrown(12, "rejected ghp_16C7e42F292c6912E7710c838347Ae178B4a for user 7"));
    await Promise.resolve();
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({ hit: 0, locals: [], file: "/app/orders.js", line: 12, column: 10, functionName: "checkQuantity" });
    expect(published[0]?.error).toBe("RangeError: rejected [redacted] for user 7");
    expect(published[0]?.trigger).toMatch(/^error:[0-9a-f]{12}$/);
    expect(armed).toEqual([{ trigger: published[0]?.trigger, file: "/app/orders.js", line: 12, column: 11, hits: 1, ttlMs: 3_600_000, error: "RangeError: rejected [redacted] for user 7" }]);
  });

  it("handles one exception once an hour, whatever its message says", async () => {
    const { watch, published, armed, advance } = setup();
    watch.onThrown(thrown(12, "order 1"));
    watch.onThrown(thrown(12, "order 2"));
    advance(59 * 60_000);
    watch.onThrown(thrown(12, "order 3"));
    expect(published).toHaveLength(1);
    advance(2 * 60_000);
    watch.onThrown(thrown(12, "order 4"));
    await Promise.resolve();
    expect(published.map((s) => s.error)).toEqual(["RangeError: order 1", "RangeError: order 4"]);
    expect(armed).toHaveLength(2);
  });

  it("keeps to its limits: first occurrences a minute, error probes at once; an exception without a stack is reported, not armed", async () => {
    const { watch, published, armed, advance } = setup({ maxReportsPerMinute: 3, maxArmed: 2 });
    for (let line = 1; line <= 5; line++) watch.onThrown(thrown(line));
    await Promise.resolve();
    expect(published).toHaveLength(3);
    expect(armed.map((a) => a.line)).toEqual([1, 2]);
    advance(61_000);
    watch.onThrown({ ...thrown(0), stack: [] });
    expect(published.at(-1)).toMatchObject({ file: "", line: 0, error: "RangeError: bad quantity" });
    expect(armed).toHaveLength(2);
  });

  it("a probe that cannot be armed (the process is exiting) frees its place", async () => {
    const { watch, armed } = setup({ maxArmed: 1 }, 1);
    watch.onThrown(thrown(1));
    await new Promise((resolve) => setImmediate(resolve));
    watch.onThrown(thrown(2));
    await new Promise((resolve) => setImmediate(resolve));
    expect(armed.map((a) => a.line)).toEqual([2]);
  });

  it("across processes of one deployment: a restarted process is not reported again, and gets the probe at once until its values are in", async () => {
    const memory = new ErrorMemory();
    const first = setup({}, 0, memory);
    first.watch.onThrown(thrown(12, "order 1"));
    await Promise.resolve();
    // The process died of it; its supervisor restarted it, and the daemon attached again.
    const second = setup({}, 0, memory);
    expect(await second.watch.rearm()).toBe(1);
    expect(second.armed).toEqual([{ ...first.armed[0], ttlMs: 3_600_000 }]);
    second.watch.onThrown(thrown(12, "order 2"));
    expect(second.published).toEqual([]);
    // The probe's snapshot comes in: the next process needs no probe.
    second.watch.onSnapshot({ ...(first.published[0] as Snapshot), hit: 1 });
    expect(await setup({}, 0, memory).watch.rearm()).toBe(0);
    // Another deployment is another story: the line may have moved, or the bug gone.
    const next = setup({}, 0, memory, "v2");
    expect(await next.watch.rearm()).toBe(0);
    next.watch.onThrown(thrown(12, "order 3"));
    expect(next.published).toHaveLength(1);
  });
});
