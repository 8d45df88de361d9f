import { readFileSync } from "node:fs";
import type { ConsumerMessages, JetStreamClient } from "@nats-io/jetstream";
import { AckPolicy, DeliverPolicy, DiscardPolicy, jetstream, jetstreamManager, StorageType } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { connect, credsAuthenticator, nanos } from "@nats-io/transport-node";
import { ErrorCodes, SeismoError } from "../errors.js";
import { ALL_SUBJECTS } from "../subjects.js";
import type { DeliveredMessage, EventPublisher, EventSubscriber, MessageHandler, PublishOptions } from "./transport.js";

export const STREAM_NAME = "SEISMO";
export const DEFAULT_CONSUMER = "seismo-analyzer";

export interface NatsConnectOptions {
  /** One or more URLs, comma-separated: nats://host:4222 */
  servers: string;
  /** Connection name shown by the server (nats-server's connz). */
  name: string;
  token?: string;
  user?: string;
  pass?: string;
  /** A .creds file (JWT + NKey seed), as issued by an operator. */
  credsFile?: string;
  /** How long to try the first connection. */
  connectTimeoutMs?: number;
}

/**
 * Connects, or fails with BROKER_UNREACHABLE naming the URL. Once connected,
 * the client reconnects on its own forever: a broker outage is buffered by the
 * daemon, never fatal.
 */
export async function connectNats(options: NatsConnectOptions): Promise<NatsConnection> {
  const servers = options.servers
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const auth: Record<string, unknown> = {};
  if (options.token) auth.token = options.token;
  if (options.user) {
    auth.user = options.user;
    auth.pass = options.pass ?? "";
  }
  if (options.credsFile) auth.authenticator = credsAuthenticator(new Uint8Array(readFileSync(options.credsFile)));
  try {
    return await connect({
      servers,
      name: options.name,
      timeout: options.connectTimeoutMs ?? 5_000,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1_000,
      ...auth,
    });
  } catch (cause) {
    const reason = (cause as Error).message;
    const authProblem = /authoriz|authenticat|permission/i.test(reason);
    throw new SeismoError(ErrorCodes.BROKER_UNREACHABLE, `Cannot connect to NATS at ${servers.join(", ")}: ${reason}.`, {
      cause,
      hint: authProblem
        ? "Check --nats-token / --nats-user / --nats-creds (or SEISMO_NATS_TOKEN, ...)."
        : "Check that nats-server runs there with JetStream (-js) and that this host can reach it.",
    });
  }
}

export interface StreamLimits {
  /** How long the broker keeps events nobody consumed. */
  maxAgeMs?: number;
  maxBytes?: number;
}

/** Creates the SEISMO stream, or leaves an existing one as it is. Safe to call from every daemon and analyzer. */
export async function ensureStream(nc: NatsConnection, limits: StreamLimits = {}): Promise<void> {
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(STREAM_NAME);
    return;
  } catch {
    // Not there yet: create it below.
  }
  try {
    await jsm.streams.add({
      name: STREAM_NAME,
      subjects: [ALL_SUBJECTS],
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: nanos(limits.maxAgeMs ?? 24 * 3600_000),
      max_bytes: limits.maxBytes ?? 1024 ** 3,
      duplicate_window: nanos(120_000),
    });
  } catch (cause) {
    // Another process created it between our info and add: fine.
    if (/already in use|exists/i.test((cause as Error).message)) return;
    throw new SeismoError(
      ErrorCodes.BROKER_UNREACHABLE,
      `Cannot create the ${STREAM_NAME} JetStream stream: ${(cause as Error).message}.`,
      {
        cause,
        hint: "Start nats-server with JetStream enabled (-js) and give this user permission on $JS.API.>.",
      },
    );
  }
}

export class NatsEventPublisher implements EventPublisher {
  private readonly js: JetStreamClient;

  constructor(private readonly nc: NatsConnection) {
    this.js = jetstream(nc);
  }

  async publish(subject: string, data: Uint8Array, options: PublishOptions = {}): Promise<void> {
    try {
      await this.js.publish(subject, data, options.messageId ? { msgID: options.messageId, timeout: 5_000 } : { timeout: 5_000 });
    } catch (cause) {
      throw new SeismoError(ErrorCodes.PUBLISH_FAILED, `Publishing to ${subject} failed: ${(cause as Error).message}.`, { cause });
    }
  }

  async close(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.drain();
  }
}

export interface SubscriberOptions {
  /** Durable consumer name; analyzers sharing it share the work. */
  durable?: string;
  /** How long a message may stay unacknowledged before redelivery. */
  ackWaitMs?: number;
}

/**
 * A durable pull consumer on the SEISMO stream. A message is acked only after
 * the handler says so (after the SQLite commit), so a crash in between means
 * redelivery, and the analyzer's idempotent ingest drops the copy.
 */
export class NatsEventSubscriber implements EventSubscriber {
  private messages: ConsumerMessages | undefined;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: SubscriberOptions = {},
  ) {}

  async start(handler: MessageHandler): Promise<void> {
    const durable = this.options.durable ?? DEFAULT_CONSUMER;
    const jsm = await jetstreamManager(this.nc);
    try {
      await jsm.consumers.info(STREAM_NAME, durable);
    } catch {
      await jsm.consumers.add(STREAM_NAME, {
        durable_name: durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: nanos(this.options.ackWaitMs ?? 30_000),
        max_ack_pending: 1_000,
      });
    }
    const consumer = await jetstream(this.nc).consumers.get(STREAM_NAME, durable);
    const messages = await consumer.consume({ max_messages: 100 });
    this.messages = messages;
    this.loop = (async () => {
      for await (const m of messages) {
        let settled = false;
        const delivered: DeliveredMessage = {
          subject: m.subject,
          data: m.data,
          redelivered: m.redelivered,
          ack: () => {
            if (!settled) m.ack();
            settled = true;
          },
          // Without a reason: nats-server before 2.10 ignores a term that carries one, and the
          // message came back every ack wait, forever (1,000 of them filled max_ack_pending and
          // stopped ingest). The reason is recorded by the handler (rejected_messages).
          reject: () => {
            if (!settled) m.term();
            settled = true;
          },
          retry: (delayMs) => {
            if (!settled) m.nak(delayMs);
            settled = true;
          },
        };
        try {
          await handler(delivered);
        } catch {
          delivered.retry(1_000);
        }
        if (!settled) delivered.retry(1_000);
      }
    })();
  }

  async close(): Promise<void> {
    this.messages?.stop();
    await this.loop;
  }
}
