import type { EventPublisher } from "@seismo/agent-proto";
import { decodeEvent, parseSubject } from "@seismo/agent-proto";
import { eventually } from "../../test/eventually.js";

/** A publisher (our own interface) that fails while `down` is set, and keeps what it got, in order. */
export class FlakyPublisher implements EventPublisher {
  down = false;
  readonly received: Array<{ subject: string; data: Uint8Array; messageId: string | undefined }> = [];

  async publish(subject: string, data: Uint8Array, options: { messageId?: string } = {}): Promise<void> {
    if (this.down) throw new Error("broker away");
    this.received.push({ subject, data, messageId: options.messageId });
  }

  async close(): Promise<void> {}

  /** The kinds of event received, decoded from the bytes as the analyzer would. */
  kinds(): string[] {
    return this.received.map((m) => decodeEvent(m.data, parseSubject(m.subject).kind).kind);
  }
}

/** Polls `check` every 5 ms until it is true (see test/eventually.ts). */
export async function waitUntil(check: () => boolean, ms: number): Promise<void> {
  await eventually(check, { timeoutMs: ms, everyMs: 5 });
}
