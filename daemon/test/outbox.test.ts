import type { SeismoEvent } from "@seismo/agent-proto";
import { decodeEvent } from "@seismo/agent-proto";
import { describe, expect, it } from "vitest";
import { sampleEvents } from "../../agent-proto/test/sample-events.js";
import { silentLogger } from "../src/logger.js";
import { Outbox } from "../src/publish/outbox.js";
import { FlakyPublisher, waitUntil } from "./flaky-publisher.js";

describe("Outbox", () => {
  it("publishes in order on the event's subject, with the message id", async () => {
    const publisher = new FlakyPublisher();
    const outbox = new Outbox(publisher, silentLogger);
    outbox.send("shop", sampleEvents.hello, "h1");
    outbox.send("shop", sampleEvents.profile, "w1");
    await outbox.drain(1_000);
    expect(publisher.received.map((m) => [m.subject, m.messageId])).toEqual([
      ["seismo.v1.shop.hello", "h1"],
      ["seismo.v1.shop.profile", "w1"],
    ]);
    expect(outbox.stats).toMatchObject({ published: 2, buffered: 0, dropped: 0 });
  });

  it("buffers while the broker is away and delivers everything, in order, when it returns", async () => {
    const publisher = new FlakyPublisher();
    publisher.down = true;
    const outbox = new Outbox(publisher, silentLogger, { retryMinMs: 5, retryMaxMs: 20 });
    for (let i = 0; i < 5; i++) outbox.send("shop", sampleEvents.heartbeat, `m${i}`);
    await waitUntil(() => outbox.stats.publishFailures >= 2, 2_000);
    expect(outbox.stats.buffered).toBe(5);
    publisher.down = false;
    await waitUntil(() => outbox.stats.published === 5, 2_000);
    expect(publisher.received.map((m) => m.messageId)).toEqual(["m0", "m1", "m2", "m3", "m4"]);
  });

  it("keeps memory bounded: beyond the limit the oldest messages go, and are counted", async () => {
    const publisher = new FlakyPublisher();
    publisher.down = true;
    const outbox = new Outbox(publisher, silentLogger, { maxBufferedMessages: 3, retryMinMs: 1_000 });
    for (let i = 0; i < 10; i++) outbox.send("shop", sampleEvents.heartbeat, `m${i}`);
    expect(outbox.stats).toMatchObject({ buffered: 3, dropped: 7 });
    publisher.down = false;
    await outbox.drain(3_000);
    expect(publisher.received.map((m) => m.messageId)).toEqual(["m7", "m8", "m9"]);
  });

  it("trims a profile window that would be too large, and says how many functions it left out", async () => {
    const publisher = new FlakyPublisher();
    const outbox = new Outbox(publisher, silentLogger, { maxMessageBytes: 1_000 });
    const base = sampleEvents.profile;
    if (base.kind !== "profile") throw new Error("fixture");
    const functions = Array.from({ length: 50 }, (_, i) => ({ ...base.body.functions[0]!, name: `fn${i}`, selfUs: 1_000 - i }));
    const big: SeismoEvent = { ...base, body: { ...base.body, functions } };
    outbox.send("shop", big);
    await outbox.drain(1_000);
    const sent = decodeEvent(publisher.received[0]!.data, "profile");
    if (sent.kind !== "profile") throw new Error("kind");
    expect(publisher.received[0]!.data.length).toBeLessThanOrEqual(1_000);
    expect(sent.body.functions.length + sent.body.truncatedFunctions).toBe(50);
    expect(sent.body.functions[0]?.name).toBe("fn0"); // the hottest are kept
  });

  it("halves the timeline of a spike's burst profile that would be too large, keeping its call tree and total time", async () => {
    const publisher = new FlakyPublisher();
    const outbox = new Outbox(publisher, silentLogger, { maxMessageBytes: 3_000 });
    const base = sampleEvents.spike;
    if (base.kind !== "spike" || !base.body.profile) throw new Error("fixture");
    const samples = Array.from({ length: 4_000 }, (_, i) => 2 + (i % 2));
    const timeDeltas = samples.map(() => 500);
    const big: SeismoEvent = { ...base, body: { ...base.body, profile: { ...base.body.profile, samples, timeDeltas } } };
    outbox.send("shop", big);
    await outbox.drain(1_000);
    const sent = decodeEvent(publisher.received[0]!.data, "spike");
    if (sent.kind !== "spike" || !sent.body.profile) throw new Error("kind");
    expect(publisher.received[0]!.data.length).toBeLessThanOrEqual(3_000);
    expect(sent.body.profile.nodes).toEqual(base.body.profile.nodes);
    expect(sent.body.profile.samples.length).toBeLessThan(4_000);
    const total = sent.body.profile.timeDeltas.reduce((a, b) => a + b, 0);
    // The last kept sample stands for the time up to the profile's end, so the sum falls short by less than one step.
    expect(4_000 * 500 - total).toBeLessThan((4_000 / sent.body.profile.samples.length) * 500);
  });
});
