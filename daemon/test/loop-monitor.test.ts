import { describe, expect, it } from "vitest";
import { LoopMonitor } from "../src/spike/loop-monitor.js";
import { BlockedTarget } from "./blocked-target.js";

/** The stall the target measured, given when the native call returns. */
const blocked = (): BlockedTarget => new BlockedTarget(() => [250, 3_400, 3_500]);

describe("the event-loop monitor, when the target does not answer", () => {
  it("reads an unanswered request as a stalled loop, waits on it rather than queueing more, then takes the real answer", async () => {
    const target = blocked();
    const monitor = new LoopMonitor(target);
    const first = await monitor.read(60);
    expect(first).toMatchObject({ answered: false, p99Ms: 0 });
    expect(first?.stallMs).toBeGreaterThanOrEqual(55);
    const second = await monitor.read(60);
    // The stall grows from when the one request was sent.
    expect(second?.stallMs).toBeGreaterThanOrEqual(110);
    expect(target.sends).toBe(1);
    target.release();
    expect(await monitor.read(60)).toEqual({ p99Ms: 250, maxMs: 3_400, stallMs: 3_500, answered: true });
    expect(target.sends).toBe(1);
  });

  it("says nothing once the session is closed", async () => {
    const target = blocked();
    const monitor = new LoopMonitor(target);
    await target.close();
    expect(await monitor.read(20)).toBeUndefined();
  });
});
