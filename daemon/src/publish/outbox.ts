import type { BurstProfile, EventPublisher, SeismoEvent } from "@seismo/agent-proto";
import { DEFAULT_MAX_MESSAGE_BYTES, describeError, encodeEvent, isSeismoError, subjectFor } from "@seismo/agent-proto";
import type { Logger } from "../logger.js";

export interface OutboxOptions {
  /** Messages kept while the broker is away; the oldest go first beyond it. */
  maxBufferedMessages?: number;
  maxBufferedBytes?: number;
  maxMessageBytes?: number;
  /** Back-off between retries, ms: doubles from min to max. */
  retryMinMs?: number;
  retryMaxMs?: number;
}

export interface OutboxStats {
  published: number;
  publishFailures: number;
  dropped: number;
  buffered: number;
  bufferedBytes: number;
}

interface Queued {
  subject: string;
  data: Uint8Array;
  messageId: string | undefined;
}

/**
 * Everything the daemon sends goes through here: encoded once, queued in
 * order, published one at a time, retried with back-off while the broker is
 * away, and bounded in memory. It never throws to its caller: the sensor must
 * keep sampling whatever the network does.
 */
export class Outbox {
  private readonly queue: Queued[] = [];
  private flushing: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMs: number;
  private readonly options: Required<OutboxOptions>;
  private closed = false;
  private loggedFailure = false;
  readonly stats: OutboxStats = { published: 0, publishFailures: 0, dropped: 0, buffered: 0, bufferedBytes: 0 };

  constructor(
    private readonly publisher: EventPublisher,
    private readonly log: Logger,
    options: OutboxOptions = {},
  ) {
    this.options = {
      maxBufferedMessages: options.maxBufferedMessages ?? 5_000,
      maxBufferedBytes: options.maxBufferedBytes ?? 64 * 1024 * 1024,
      maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      retryMinMs: options.retryMinMs ?? 500,
      retryMaxMs: options.retryMaxMs ?? 30_000,
    };
    this.retryDelayMs = this.options.retryMinMs;
  }

  send(service: string, event: SeismoEvent, messageId?: string): void {
    if (this.closed) return;
    let data: Uint8Array;
    try {
      data = this.encode(event);
    } catch (error) {
      this.stats.dropped++;
      this.log.warn(`dropped a ${event.kind} event that cannot be encoded: ${describeError(error)}`);
      return;
    }
    this.queue.push({ subject: subjectFor(service, event.kind), data, messageId });
    this.stats.bufferedBytes += data.length;
    while (this.queue.length > this.options.maxBufferedMessages || this.stats.bufferedBytes > this.options.maxBufferedBytes) {
      const oldest = this.queue.shift() as Queued;
      this.stats.bufferedBytes -= oldest.data.length;
      this.stats.dropped++;
    }
    this.stats.buffered = this.queue.length;
    this.kick();
  }

  /** Waits until everything queued is published, or the timeout passes. */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length > 0 && Date.now() < deadline) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      this.kick();
      await Promise.race([this.flushing, new Promise((r) => setTimeout(r, Math.min(200, Math.max(1, deadline - Date.now()))))]);
    }
    return this.queue.length === 0;
  }

  async close(timeoutMs = 3_000): Promise<void> {
    await this.drain(timeoutMs);
    this.closed = true;
    clearTimeout(this.retryTimer);
    if (this.queue.length > 0) this.log.warn(`${this.queue.length} message(s) not delivered before shutdown`);
  }

  /**
   * A profile window too large for one message loses its smallest functions,
   * and says how many. A spike's burst profile too large for one message keeps
   * its call tree and loses timeline resolution: pairs of samples merge.
   */
  private encode(event: SeismoEvent): Uint8Array {
    const limits = { maxBytes: this.options.maxMessageBytes };
    if (event.kind === "spike") {
      let profile = event.body.profile;
      for (;;) {
        try {
          return encodeEvent({ ...event, body: { ...event.body, profile } }, limits);
        } catch (error) {
          if (!isSeismoError(error, "SEISMO_MESSAGE_TOO_LARGE") || !profile || profile.samples.length < 2) throw error;
          profile = halveTimeline(profile);
        }
      }
    }
    if (event.kind !== "profile") return encodeEvent(event, limits);
    let functions = event.body.functions;
    for (;;) {
      try {
        const body = {
          ...event.body,
          functions,
          truncatedFunctions: event.body.truncatedFunctions + event.body.functions.length - functions.length,
        };
        return encodeEvent({ ...event, body }, limits);
      } catch (error) {
        if (!isSeismoError(error, "SEISMO_MESSAGE_TOO_LARGE") || functions.length === 0) throw error;
        functions = functions.slice(0, Math.floor(functions.length / 2));
      }
    }
  }

  private kick(): void {
    if (this.flushing || this.retryTimer || this.queue.length === 0) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = undefined;
    });
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const head = this.queue[0] as Queued;
      try {
        await this.publisher.publish(head.subject, head.data, head.messageId ? { messageId: head.messageId } : {});
      } catch (error) {
        this.stats.publishFailures++;
        if (!this.loggedFailure) {
          this.log.warn(`publishing failed, buffering and retrying: ${describeError(error)}`);
          this.loggedFailure = true;
        }
        if (this.closed) return;
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.kick();
        }, this.retryDelayMs);
        this.retryTimer.unref();
        this.retryDelayMs = Math.min(this.retryDelayMs * 2, this.options.retryMaxMs);
        return;
      }
      if (this.queue[0] === head) this.queue.shift();
      this.stats.bufferedBytes -= head.data.length;
      this.stats.buffered = this.queue.length;
      this.stats.published++;
      if (this.loggedFailure) {
        this.log.info("publishing recovered");
        this.loggedFailure = false;
      }
      this.retryDelayMs = this.options.retryMinMs;
    }
  }
}

/** Every second sample goes, its time added to the one kept: half the bytes of timeline, the same total time. */
export function halveTimeline(profile: BurstProfile): BurstProfile {
  const samples: number[] = [];
  const timeDeltas: number[] = [];
  for (let i = 0; i < profile.samples.length; i += 2) {
    samples.push(profile.samples[i] as number);
    timeDeltas.push((profile.timeDeltas[i] ?? 0) + (i > 0 ? (profile.timeDeltas[i - 1] ?? 0) : 0));
  }
  return { ...profile, samples, timeDeltas };
}
