import type { RawRemoval, RawSnapshot, RawThrown, RawValue } from "../in-target/capture.js";

/** What the capture binding carries from the target: a snapshot, a probe's removal, or an uncaught exception. */
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
  if (!isRecord(value)) return undefined;
  if ("removed" in value) return isString(value.id) && isString(value.removed) && REMOVALS.has(value.removed) ? { kind: "removed", removal: value as unknown as RawRemoval } : undefined;
  if ("thrown" in value) {
    if (!isThrownReport(value.thrown) || !optional(value.captured, isRawSnapshot)) return undefined;
    return { kind: "thrown", thrown: value as unknown as RawThrown };
  }
  return isRawSnapshot(value) ? { kind: "snapshot", snapshot: value } : undefined;
}
