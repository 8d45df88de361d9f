import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";
import { ErrorCodes, SeismoError } from "./errors.js";
import type { EventKind, SeismoEvent } from "./messages.js";
import { isEventKind } from "./messages.js";

export const SCHEMA_VERSION = 1;

/**
 * NATS' default max_payload is 1 MiB; stay under it with room for headers.
 * A profile window that would exceed it is trimmed by the daemon before encoding.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 900 * 1024;

function protoPath(): string {
  // dist/codec.js and src/codec.ts both sit one level below the package root.
  const packageRoot = dirname(dirname(fileURLToPath(import.meta.url)));
  const path = join(packageRoot, "proto", "seismo", "v1", "events.proto");
  if (!existsSync(path)) throw new Error(`Seismo schema not found at ${path}: the package is incomplete.`);
  return path;
}

interface Schema {
  event: protobuf.Type;
  goodbyeReason: protobuf.Enum;
  spikeTrigger: protobuf.Enum;
}

let schema: Schema | undefined;

function getSchema(): Schema {
  if (!schema) {
    const root = protobuf.loadSync(protoPath());
    root.resolveAll();
    schema = {
      event: root.lookupType("seismo.v1.Event"),
      goodbyeReason: root.lookupEnum("seismo.v1.Goodbye.Reason"),
      spikeTrigger: root.lookupEnum("seismo.v1.Spike.Trigger"),
    };
  }
  return schema;
}

function getEventType(): protobuf.Type {
  return getSchema().event;
}

/** An enum name as its number; an unknown name is passed through as is, so verify reports it. */
function enumNumber(type: protobuf.Enum, name: string): number | string {
  return type.values[name] ?? name;
}

/** verify wants enums as numbers; mapped by hand so that verify still sees every other field exactly as given (fromObject would coerce). */
function withEnumNumbers(event: SeismoEvent): object {
  if (event.kind === "goodbye") return { ...event.body, reason: enumNumber(getSchema().goodbyeReason, event.body.reason) };
  if (event.kind === "spike") return { ...event.body, trigger: enumNumber(getSchema().spikeTrigger, event.body.trigger) };
  return event.body;
}

export interface CodecLimits {
  maxBytes?: number;
}

/** Encodes one event. Throws MESSAGE_TOO_LARGE rather than emit what a broker would refuse. */
export function encodeEvent(event: SeismoEvent, limits: CodecLimits = {}): Uint8Array {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const type = getEventType();
  const body = withEnumNumbers(event);
  const payload = { schemaVersion: SCHEMA_VERSION, sentAtMs: event.sentAtMs, [event.kind]: body };
  const problem = type.verify(payload);
  if (problem) {
    throw new SeismoError(ErrorCodes.DECODE_MALFORMED, `Refusing to encode an invalid ${event.kind} event: ${problem}.`);
  }
  const bytes = type.encode(type.fromObject(payload)).finish();
  if (bytes.length > maxBytes) {
    throw new SeismoError(
      ErrorCodes.MESSAGE_TOO_LARGE,
      `A ${event.kind} event encodes to ${bytes.length} bytes, over the ${maxBytes}-byte limit.`,
    );
  }
  return bytes;
}

/**
 * Decodes one event, checking size, wire format, schema version and, when the
 * caller knows it from the subject, that the body is of the expected kind.
 * Every failure is a SeismoError with a stable code; nothing else escapes.
 */
export function decodeEvent(bytes: Uint8Array, expectedKind?: EventKind, limits: CodecLimits = {}): SeismoEvent {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  if (bytes.length > maxBytes) {
    throw new SeismoError(ErrorCodes.MESSAGE_TOO_LARGE, `Message of ${bytes.length} bytes is over the ${maxBytes}-byte limit.`);
  }
  const type = getEventType();
  let object: Record<string, unknown>;
  try {
    const message = type.decode(bytes);
    object = type.toObject(message, { longs: Number, enums: String, defaults: true, arrays: true, oneofs: true });
  } catch (cause) {
    throw new SeismoError(ErrorCodes.DECODE_MALFORMED, `Message is not a valid Seismo v1 event (${(cause as Error).message}).`, {
      cause,
    });
  }
  if (object.schemaVersion !== SCHEMA_VERSION) {
    throw new SeismoError(
      ErrorCodes.DECODE_MALFORMED,
      `Message has schema version ${String(object.schemaVersion)}; this Seismo reads version ${SCHEMA_VERSION}.`,
    );
  }
  const kind = object.body;
  if (typeof kind !== "string" || !isEventKind(kind)) {
    throw new SeismoError(ErrorCodes.DECODE_MALFORMED, "Message has no event body.");
  }
  if (expectedKind !== undefined && kind !== expectedKind) {
    throw new SeismoError(ErrorCodes.SUBJECT_INVALID, `Subject says "${expectedKind}" but the message holds "${kind}".`);
  }
  const body = object[kind] as Record<string, unknown>;
  const missing = missingField(kind, body);
  if (missing) throw new SeismoError(ErrorCodes.DECODE_MALFORMED, `A ${kind} event without ${missing} cannot be stored.`);
  return { kind, sentAtMs: Number(object.sentAtMs), body: body as unknown } as SeismoEvent;
}

/**
 * What a decoded body lacks that storing it needs (protobuf gives every missing field its default,
 * so a message with no target decodes): every event names the process it comes from, and the
 * events stored under their own id carry it.
 */
function missingField(kind: EventKind, body: Record<string, unknown>): string | undefined {
  const target = body.target as Record<string, unknown> | null | undefined;
  if (!target) return "a target";
  if (!target.targetId) return "a target id";
  if (!target.service) return "a service";
  if (kind === "profile" && !body.windowId) return "a window id";
  if (kind === "snapshot" && !body.probeId) return "a probe id";
  if (kind === "spike" && !body.spikeId) return "a spike id";
  if (kind === "request" && !body.requestId) return "a request id";
  return undefined;
}
