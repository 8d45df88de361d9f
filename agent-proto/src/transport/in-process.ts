import { ErrorCodes, SeismoError } from "../errors.js";
import type { DeliveredMessage, EventPublisher, EventSubscriber, MessageHandler } from "./transport.js";

export interface InProcessTransport {
  publisher: EventPublisher;
  subscriber: EventSubscriber;
}

interface Pending {
  subject: string;
  data: Uint8Array;
  settle: (error?: Error) => void;
}

/**
 * The embedded transport: a publish is handed straight to the subscriber's
 * handler and resolves when the handler acks, so the daemon sees the same
 * "durably accepted" contract as with JetStream. A retry surfaces as a publish
 * error, and the daemon's own buffer takes it from there.
 */
export function createInProcessTransport(options: { maxQueued?: number } = {}): InProcessTransport {
  const maxQueued = options.maxQueued ?? 10_000;
  let handler: MessageHandler | undefined;
  let closed = false;
  const queue: Pending[] = [];
  let draining = false;

  async function deliver(item: Pending): Promise<void> {
    let outcome: "ack" | "reject" | "retry" | undefined;
    const message: DeliveredMessage = {
      subject: item.subject,
      data: item.data,
      redelivered: false,
      ack: () => {
        outcome ??= "ack";
      },
      reject: () => {
        outcome ??= "reject";
      },
      retry: () => {
        outcome ??= "retry";
      },
    };
    try {
      await (handler as MessageHandler)(message);
    } catch (error) {
      outcome ??= "retry";
      item.settle(new SeismoError(ErrorCodes.PUBLISH_FAILED, "The embedded analyzer failed on a message.", { cause: error }));
      return;
    }
    if (outcome === "retry" || outcome === undefined) {
      item.settle(new SeismoError(ErrorCodes.PUBLISH_FAILED, "The embedded analyzer asked for the message later."));
    } else {
      item.settle();
    }
  }

  async function drain(): Promise<void> {
    if (draining || !handler) return;
    draining = true;
    try {
      for (let item = queue.shift(); item; item = queue.shift()) await deliver(item);
    } finally {
      draining = false;
    }
  }

  const publisher: EventPublisher = {
    publish(subject, data) {
      if (closed) return Promise.reject(new SeismoError(ErrorCodes.PUBLISH_FAILED, "The embedded transport is closed."));
      if (queue.length >= maxQueued) {
        return Promise.reject(new SeismoError(ErrorCodes.PUBLISH_FAILED, `The embedded analyzer is ${maxQueued} messages behind.`));
      }
      return new Promise<void>((resolve, reject) => {
        queue.push({ subject, data, settle: (error) => (error ? reject(error) : resolve()) });
        void drain();
      });
    },
    async close() {
      closed = true;
    },
  };

  const subscriber: EventSubscriber = {
    async start(next) {
      handler = next;
      await drain();
    },
    async close() {
      closed = true;
      handler = undefined;
      for (let item = queue.shift(); item; item = queue.shift()) {
        item.settle(new SeismoError(ErrorCodes.PUBLISH_FAILED, "The embedded analyzer stopped."));
      }
    },
  };

  return { publisher, subscriber };
}
