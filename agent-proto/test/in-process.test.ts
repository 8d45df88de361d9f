import { describe, expect, it } from "vitest";
import type { DeliveredMessage } from "../src/index.js";
import { createInProcessTransport } from "../src/index.js";

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

describe("in-process transport", () => {
  it("holds messages until the subscriber starts, then delivers them in order", async () => {
    const { publisher, subscriber } = createInProcessTransport();
    const first = publisher.publish("seismo.v1.a.hello", bytes("1"));
    const second = publisher.publish("seismo.v1.a.profile", bytes("2"));
    const seen: string[] = [];
    await subscriber.start((m: DeliveredMessage) => {
      seen.push(`${m.subject}:${new TextDecoder().decode(m.data)}`);
      m.ack();
    });
    await Promise.all([first, second]);
    expect(seen).toEqual(["seismo.v1.a.hello:1", "seismo.v1.a.profile:2"]);
  });

  it("fails the publish when the handler asks for a retry or throws, so the sender keeps the message", async () => {
    const { publisher, subscriber } = createInProcessTransport();
    let calls = 0;
    await subscriber.start((m) => {
      calls++;
      if (calls === 1) m.retry();
      else if (calls === 2) throw new Error("disk full");
      else m.ack();
    });
    await expect(publisher.publish("s", bytes("x"))).rejects.toThrow(/later/);
    await expect(publisher.publish("s", bytes("x"))).rejects.toThrow(/failed/);
    await expect(publisher.publish("s", bytes("x"))).resolves.toBeUndefined();
  });

  it("resolves a rejected (malformed) message: the consumer dropped it on purpose", async () => {
    const { publisher, subscriber } = createInProcessTransport();
    await subscriber.start((m) => m.reject("malformed"));
    await expect(publisher.publish("s", bytes("x"))).resolves.toBeUndefined();
  });

  it("bounds what it queues while nobody consumes", async () => {
    const { publisher } = createInProcessTransport({ maxQueued: 2 });
    void publisher.publish("s", bytes("1"));
    void publisher.publish("s", bytes("2"));
    await expect(publisher.publish("s", bytes("3"))).rejects.toThrow(/behind/);
  });
});
