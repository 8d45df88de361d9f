import type { Drained, RawRemoval, RawSnapshot, RawThrown, RawValue } from "../in-target/capture.js";

/** What comes from the target's capture code: a snapshot, a probe's removal (both fetched), or an uncaught exception (pushed). */
export type CapturePayload = { kind: "snapshot"; snapshot: RawSnapshot } | { kind: "removed"; removal: RawRemoval } | { kind: "thrown"; thrown: RawThrown };

const REMOVALS: ReadonlySet<string> = new Set(["hits", "ttl", "disarmed", "the daemon went away", "hot", "budget"]);
/** Deeper than any capture limit allows: a tree past it is not one the capture code made. */
const MAX_VALUE_DEPTH = 16;

const isString = (v: unknown): v is string => typeof v === "string";
const isNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const optional = (v: unknown, check: (v: unknown) => boolean): boolean => v === undefined || check(v);

function isRawValue(v: unknown, depth = 0): v is RawValue {
  if (!isRecord(v) || !isString(v.t) || depth > MAX_VALUE_DEPTH) return false;
  if (!optional(v.n, isString) || !optional(v.v, isString) || !optional(v.x, isString) || !optional(v.o, isNumber) || !optional(v.k, isNumber)) return false;
  return v.c === undefined || (Array.isArray(v.c) && v.c.every((child) => isRawValue(child, depth + 1)));
}

function isRawSnapshot(v: unknown): v is RawSnapshot {
  if (!isRecord(v)) return false;
  return (
    isString(v.id) &&
    isNumber(v.hit) &&
    isNumber(v.at) &&
    isNumber(v.costUs) &&
    typeof v.last === "boolean" &&
    Array.isArray(v.locals) &&
    v.locals.every((l) => isRawValue(l)) &&
    optional(v.self, (s) => isRawValue(s)) &&
    Array.isArray(v.stack) &&
    v.stack.every(isString)
  );
}

function isThrownReport(v: unknown): v is RawThrown["thrown"] {
  return isRecord(v) && isString(v.name) && isString(v.message) && isString(v.origin) && isNumber(v.at) && Array.isArray(v.stack) && v.stack.every(isString);
}

/**
 * A payload of the capture binding, checked field by field: the target is the app's process, and
 * whatever it sends is data to verify, not a shape to trust. Undefined when it is not JSON or not
 * one of the three messages the capture code sends (in-target/capture.ts).
 */
export function parseCapturePayload(text: string): CapturePayload | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  return parseCaptureMessage(value);
}

/** What one fetch of the target's queue brought, each message checked; `invalid` counts those that were not one. */
export interface DrainedMessages {
  armed: number;
  messages: CapturePayload[];
  invalid: number;
  dropped: number;
  droppedThrown: number;
}

/** A fetch of the target's queue (DRAIN_EXPRESSION's value), checked; undefined when it is not one at all. */
export function parseDrained(value: unknown): DrainedMessages | undefined {
  if (!isRecord(value) || !isNumber(value.armed) || !Array.isArray(value.messages) || !isNumber(value.dropped) || !isNumber(value.droppedThrown)) return undefined;
  const drained = value as unknown as Drained;
  const messages: CapturePayload[] = [];
  let invalid = 0;
  for (const raw of drained.messages as unknown[]) {
    const message = parseCaptureMessage(raw);
    if (message) messages.push(message);
    else invalid++;
  }
  return { armed: drained.armed, messages, invalid, dropped: drained.dropped, droppedThrown: drained.droppedThrown };
}

/** One message of the capture code, as a value (parsed JSON or fetched by value), checked field by field. */
export function parseCaptureMessage(value: unknown): CapturePayload | undefined {
  if (!isRecord(value)) return undefined;
  if ("removed" in value) return isString(value.id) && isString(value.removed) && REMOVALS.has(value.removed) ? { kind: "removed", removal: value as unknown as RawRemoval } : undefined;
  if ("thrown" in value) {
    if (!isThrownReport(value.thrown) || !optional(value.captured, isRawSnapshot)) return undefined;
    return { kind: "thrown", thrown: value as unknown as RawThrown };
  }
  return isRawSnapshot(value) ? { kind: "snapshot", snapshot: value } : undefined;
}
