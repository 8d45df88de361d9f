import type { RequestError, RequestExemplar, RequestStep, TargetRef } from "@seismo/agent-proto";
import type { RawValue } from "../in-target/values.js";
import type { RawRequest, RawRequestError, RawStep } from "../in-target/request-forensics.js";
import { redactFrame, toCapturedValue } from "../capture/captures.js";
import { redactString } from "../capture/redaction.js";
import { frameSite } from "../capture/throw-site.js";

/** What one read of the HTTP instrument says of kept requests. */
export interface KeptRequests {
  kept: RawRequest[];
  /** Requests that qualified and were over the rate limits. */
  limited: number;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);
const str = (value: unknown, max = 2_000): string => (typeof value === "string" ? value.slice(0, max) : "");
const num = (value: unknown, fallback = 0): number => (typeof value === "number" && Number.isFinite(value) ? value : fallback);

function rawValue(value: unknown): RawValue | undefined {
  return isObject(value) && typeof value.t === "string" ? (value as unknown as RawValue) : undefined;
}

function rawStep(value: unknown): RawStep | undefined {
  if (!isObject(value) || (value.k !== "query" && value.k !== "call")) return undefined;
  return {
    k: value.k,
    o: num(value.o),
    d: num(value.d, -1),
    s: str(value.s, 600),
    h: str(value.h, 300),
    ...(typeof value.p === "string" ? { p: str(value.p, 600) } : {}),
    ...(typeof value.st === "number" ? { st: num(value.st) } : {}),
    ...(typeof value.r === "number" ? { r: num(value.r) } : {}),
    ...(typeof value.c === "string" ? { c: str(value.c, 100) } : {}),
    ...(typeof value.e === "string" ? { e: str(value.e) } : {}),
  };
}

function rawError(value: unknown): RawRequestError | undefined {
  if (!isObject(value)) return undefined;
  return {
    type: str(value.type, 200),
    message: str(value.message),
    stack: Array.isArray(value.stack) ? value.stack.filter((f): f is string => typeof f === "string").slice(0, 20) : [],
    by: str(value.by, 50),
    ...(typeof value.code === "string" ? { code: str(value.code, 100) } : {}),
  };
}

/** Pure: the kept requests of one in-target read; anything malformed is skipped, never thrown. */
export function parseKeptRequests(value: unknown): KeptRequests {
  if (!isObject(value) || !Array.isArray(value.kept)) return { kept: [], limited: 0 };
  const kept: RawRequest[] = [];
  for (const item of value.kept as unknown[]) {
    if (!isObject(item) || !Number.isInteger(item.n) || typeof item.method !== "string" || typeof item.route !== "string") continue;
    const request: RawRequest = {
      n: item.n as number,
      at: num(item.at),
      ms: num(item.ms),
      method: str(item.method, 16),
      route: str(item.route, 600),
      template: item.template === true,
      status: Math.trunc(num(item.status)),
      why: str(item.why, 20),
      over: num(item.over),
      steps: Array.isArray(item.steps) ? item.steps.map(rawStep).filter((s): s is RawStep => s !== undefined) : [],
      stepsLeft: Math.trunc(num(item.stepsLeft)),
    };
    for (const name of ["params", "query", "headers", "body"] as const) {
      const v = rawValue(item[name]);
      if (v) request[name] = v;
    }
    const error = rawError(item.error);
    if (error) request.error = error;
    kept.push(request);
  }
  return { kept, limited: Math.max(0, Math.trunc(num(value.limited))) };
}

/** The innermost frame in the app's own files: not a dependency's, not Node's, not a built-in's. */
export function appFrameOf(stack: readonly string[]): string {
  return stack.find((frame) => !(frameSite(frame)?.file.includes("/node_modules/") ?? true)) ?? "";
}

function step(raw: RawStep): RequestStep {
  const query = raw.k === "query";
  return {
    kind: raw.k,
    offsetMs: raw.o,
    durationMs: raw.d,
    statement: query ? redactString(raw.s) : "",
    database: query ? redactString(raw.h) : "",
    method: query ? "" : raw.s,
    host: query ? "" : raw.h,
    path: query ? "" : redactString(raw.p ?? ""),
    status: raw.st ?? 0,
    rows: raw.r ?? -1,
    errorCode: raw.c ?? "",
    errorMessage: redactString(raw.e ?? ""),
  };
}

/**
 * Pure: a kept request as published: every name and string checked again by shape (a secret the
 * target did not know by its name), the error's frames at the original source (`originalFrame`,
 * through the target's source maps) with the app's own frame picked out; `captureTrigger`, the
 * trigger of the snapshots the exception watch takes of its error.
 */
export function toRequestExemplar(raw: RawRequest, target: TargetRef, originalFrame: (frame: string) => string = (f) => f, captureTrigger = ""): RequestExemplar {
  const valueOf = (v: RawValue | undefined) => (v ? toCapturedValue(v) : null);
  let error: RequestError | null = null;
  if (raw.error) {
    const stack = raw.error.stack.map((frame) => redactFrame(originalFrame(frame)));
    error = { type: raw.error.type, message: redactString(raw.error.message), code: raw.error.code ?? "", stack, appFrame: appFrameOf(stack), handledBy: raw.error.by, captureTrigger };
  }
  return {
    // (The start joins the number: an instrument installed again after a daemon died counts from 1 again.)
    requestId: `${target.targetId}:request:${Math.round(raw.at)}-${raw.n}`,
    target,
    startedAtMs: Math.round(raw.at),
    method: raw.method,
    route: redactString(raw.route),
    routeTemplate: raw.template,
    status: raw.status,
    durationMs: raw.ms,
    keptBecause: raw.why === "error" || raw.why === "status" || raw.why === "aborted" ? raw.why : "slow",
    slowThresholdMs: raw.over,
    params: valueOf(raw.params),
    query: valueOf(raw.query),
    headers: valueOf(raw.headers),
    body: valueOf(raw.body),
    steps: raw.steps.map(step),
    stepsLeftOut: raw.stepsLeft,
    error,
  };
}
