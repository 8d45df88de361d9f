import { describe, expect, it } from "vitest";
import { silentLogger } from "../src/logger.js";
import { Outbox } from "../src/publish/outbox.js";
import { Sensor } from "../src/sensor.js";
import { FlakyPublisher, waitUntil } from "./flaky-publisher.js";
import { ScriptedSession } from "./scripted-session.js";

describe("Sensor", () => {
  it("says hello again when its buffer overflowed during an outage (the first hello was the oldest message)", async () => {
    const publisher = new FlakyPublisher();
    publisher.down = true;
    const outbox = new Outbox(publisher, silentLogger, { maxBufferedMessages: 3, retryMinMs: 5, retryMaxMs: 10 });
    const sensor = await Sensor.attach({
      inspectorUrl: "ws://127.0.0.1:1/scripted",
      connect: async () => new ScriptedSession(),
      service: "shop",
      daemonId: "test",
      samplingIntervalUs: 10_000,
      windowMs: 60_000,
      heartbeatMs: 10,
      recompileOnAttach: false,
      outbox,
      log: silentLogger,
    });
    // Heartbeats pile up while the broker is away: the hello is pushed out of the buffer.
    await waitUntil(() => outbox.stats.dropped > 3, 3_000);
    publisher.down = false;
    await waitUntil(() => publisher.kinds().includes("hello"), 3_000);
    await sensor.stop();
    await outbox.drain(1_000);
    expect(publisher.kinds()).toContain("hello");
    expect(publisher.kinds().at(-1)).toBe("goodbye");
  });

  it("detaches cleanly: the last window, a final heartbeat, the profiler disabled, then goodbye", async () => {
    const publisher = new FlakyPublisher();
    const outbox = new Outbox(publisher, silentLogger);
    const session = new ScriptedSession();
    const others: ScriptedSession[] = [];
    let connections = 0;
    const sensor = await Sensor.attach({
      inspectorUrl: "ws://127.0.0.1:1/scripted",
      // The sensor's own session first; the capture side (uncaught exceptions) opens another.
      connect: async () => {
        if (++connections === 1) return session;
        const other = new ScriptedSession();
        others.push(other);
        return other;
      },
      daemonId: "test",
      samplingIntervalUs: 10_000,
      windowMs: 60_000,
      heartbeatMs: 60_000,
      outbox,
      log: silentLogger,
    });
    expect(sensor.target.service).toBeTruthy();
    await sensor.stop();
    expect(await sensor.done).toBe("stopped");
    await outbox.drain(1_000);
    expect(publisher.kinds()).toEqual(["hello", "profile", "heartbeat", "goodbye"]);
    expect(session.sent).toContain("Profiler.disable");
    expect(session.sent).toContain("Profiler.startPreciseCoverage");
    expect(session.closed).toBe(true);
    expect(session.runningProfiles).toBe(0);
    expect(others.map((o) => o.closed)).toEqual([true]);
  });
});
