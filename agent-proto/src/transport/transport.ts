/**
 * The one seam between the daemon and the analyzer. Both implementations carry
 * the same protobuf bytes on the same subjects, so everything above this file is
 * identical whether the analyzer sits in the same process or across a broker.
 */

export interface PublishOptions {
  /** Lets the broker drop a re-sent copy (JetStream Nats-Msg-Id). */
  messageId?: string;
}

export interface EventPublisher {
  /** Resolves once the message is durably accepted (JetStream ack, or the embedded analyzer's commit). */
  publish(subject: string, data: Uint8Array, options?: PublishOptions): Promise<void>;
  close(): Promise<void>;
}

export interface DeliveredMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly redelivered: boolean;
  /** Processed and committed: never deliver again. */
  ack(): void;
  /** Can never be processed (malformed): drop it, never redeliver. */
  reject(reason: string): void;
  /** Could not be processed now (database busy, disk full): deliver again later. */
  retry(delayMs?: number): void;
}

export type MessageHandler = (message: DeliveredMessage) => Promise<void> | void;

export interface EventSubscriber {
  /** Starts delivering; messages are handed over one at a time, in order. */
  start(handler: MessageHandler): Promise<void>;
  close(): Promise<void>;
}
