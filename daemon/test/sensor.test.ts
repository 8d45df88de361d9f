import type { EventPublisher } from "@seismo/agent-proto";
import { decodeEvent, parseSubject } from "@seismo/agent-proto";
import { describe, expect, it } from "vitest";
import { Outbox, Sensor, silentLogger } from "../src/index.js";
import { ScriptedSession } from "./scripted-session.js";

/** A publisher (our own interface) that fails while `down` is set, and keeps what it got. */
class SwitchablePublisher implements EventPublisher {
  down = false;
  readonly kinds: string[] = [];
  async publish(subject: string, data: Uint8Array): Promise<void> {
    if (this.down) throw new Error("broker away");
    const { kind } = parseSubject(subject);
    this.kinds.push(decodeEvent(data, kind).kind);
  }
  async close(): Promise<void> {}
}

const until = async (check: () => boolean, ms = 3_000): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe("Sensor", () => {
  it("says hello again when its buffer overflowed during an outage (the first hello was the oldest message)", async () => {
    const publisher = new SwitchablePublisher();
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
    await until(() => outbox.stats.dropped > 3);
    publisher.down = false;
    await until(() => publisher.kinds.includes("hello"));
    await sensor.stop();
    await outbox.drain(1_000);
    expect(publisher.kinds).toContain("hello");
    expect(publisher.kinds.at(-1)).toBe("goodbye");
  });

  it("detaches cleanly: the last window, a final heartbeat, the profiler disabled, then goodbye", async () => {
    const publisher = new SwitchablePublisher();
    const outbox = new Outbox(publisher, silentLogger);
    const session = new ScriptedSession();
    const sensor = await Sensor.attach({
      inspectorUrl: "ws://127.0.0.1:1/scripted",
      connect: async () => session,
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
    expect(publisher.kinds).toEqual(["hello", "profile", "heartbeat", "goodbye"]);
    expect(session.sent).toContain("Profiler.disable");
    expect(session.sent).toContain("Profiler.startPreciseCoverage");
    expect(session.closed).toBe(true);
    expect(session.runningProfiles).toBe(0);
  });
});
