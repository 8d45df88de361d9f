import type { BreakpointSpec, CaptureTargetSettings, ProbeConfig } from "../in-target/capture.js";
import { armProbe, captureCalls, disarmProbe, drainCapture, installCapture, unwatchErrors, watchErrors } from "../in-target/capture.js";
import { IN_TARGET_KEYS } from "../in-target/keys.js";
import { inTargetExpression } from "../in-target/script.js";
import { VALUES } from "./in-target-values.js";

export type { BreakpointSpec, CaptureLimits, Drained, ProbeConfig, RawRemoval, RawSnapshot, RawThrown, RawValue } from "../in-target/capture.js";

/** Probes are removed when the daemon has not touched the capture code for this long (it died). */
export const CAPTURE_ABANDONED_AFTER_MS = 5_000;

/**
 * The capture function Seismo installs in the target (in-target/capture.ts), and the
 * breakpoint condition that calls it.
 *
 * A breakpoint condition runs in the paused frame, so it can read the
 * frame's variables by name. Seismo's condition hands the capture function
 * a getter per name, `this`, and the probe's id. The capture function:
 * - counts the hit against the probe's hit limit, time-to-live and rate,
 *   all kept in the target, so a probe stops capturing at its limit even
 *   before the daemon removes the breakpoint;
 * - serializes the values within the probe's limits (depth, fields per
 *   object, items per collection, string length, total bytes, time),
 *   marking every cut with the reason and how much was left out;
 * - replaces the value of any secret-looking name with "[redacted]" before
 *   it is serialized, so it never leaves the target's memory;
 * - never calls user code: no getters (accessors are listed, not read), no
 *   Proxy traps, no toString or toJSON;
 * - queues the snapshot for the daemon, which fetches the queue every
 *   CAPTURE_DRAIN_MS while a probe is armed (bounded: past CAPTURE_MAX_QUEUED
 *   a hit is skipped and counted), never throws, and returns false: the
 *   target never pauses. Nothing but an uncaught exception's report is
 *   pushed: a daemon that dies stops fetching, and the target then writes
 *   nothing to its closing connection, where Node before 24.19 can crash
 *   (nodejs/node#34833);
 * - removes the probe's breakpoint itself, synchronously, at the last hit,
 *   through an inspector session of its own inside the target (see below),
 *   and at the time-to-live, or when the daemon stops touching it.
 */
const KEY = IN_TARGET_KEYS.capture;

/**
 * The Runtime binding the capture code calls with an uncaught exception's report (JSON): this
 * prefix and a number per inspector session. V8 ties a binding to the session that added it, so a binding left
 * by a closed session would swallow the snapshots of the next one.
 */
export const CAPTURE_BINDING = "__seismoCapture";

/** As strict as the strictest peers: depth 3, 20 fields, 100 items, 255 characters. */
export const DEFAULT_CAPTURE_LIMITS: ProbeConfig["limits"] = { maxDepth: 3, maxFields: 20, maxItems: 100, maxString: 255, maxBytes: 32_768, maxFrames: 10, timeBudgetMs: 10 };

/**
 * An error probe traps into the debugger each time its position runs, and a
 * lone trap costs the app about 0.4 ms (bench/capture.mjs). One that runs
 * more often than this per second removes itself ("hot"), and so does one
 * that has run this many times in all ("budget"): at most a second or two of
 * the app's time per probe.
 */
export const ERROR_PROBE_MAX_HITS_PER_SECOND = 50;
export const ERROR_PROBE_MAX_HITS = 3_000;

/** An error probe's kept values count for an exception this long after they were taken. */
export const ERROR_PROBE_FRESH_MS = 1_000;

/** How often the daemon fetches queued snapshots while a probe is armed... */
export const CAPTURE_DRAIN_MS = 200;
/** ...and touches the capture code otherwise (only uncaught exceptions are watched). */
export const CAPTURE_TOUCH_MS = 1_000;
/** Snapshots (and characters of values) the target keeps for the daemon between two fetches. */
export const CAPTURE_MAX_QUEUED = 100;
export const CAPTURE_MAX_QUEUED_CHARS = 4_000_000;
/** Uncaught exceptions reported per second, at most: an app that throws in a loop is not a flood. */
export const THROWN_MAX_PER_SECOND = 10;

const INSTALL_SETTINGS: CaptureTargetSettings = {
  key: KEY,
  abandonedAfterMs: CAPTURE_ABANDONED_AFTER_MS,
  errorFreshMs: ERROR_PROBE_FRESH_MS,
  errorMaxHitsPerSecond: ERROR_PROBE_MAX_HITS_PER_SECOND,
  errorMaxHits: ERROR_PROBE_MAX_HITS,
  maxQueued: CAPTURE_MAX_QUEUED,
  maxQueuedChars: CAPTURE_MAX_QUEUED_CHARS,
  thrownMaxPerSecond: THROWN_MAX_PER_SECOND,
};

export function installExpression(): string {
  return inTargetExpression(installCapture, INSTALL_SETTINGS, [VALUES]);
}

/**
 * The breakpoint condition for a probe: reads the site's names and returns false. It asks whether
 * the probe is live before building the getters, so that the calls between the last hit and the
 * breakpoint's removal cost as little as a trap can. It stays text: it reads the paused frame's
 * variables by name.
 */
export function conditionExpression(probeId: string, names: readonly string[]): string {
  const getters = names.map((n) => `[${JSON.stringify(n)}, () => ${n}]`).join(", ");
  const id = JSON.stringify(probeId);
  const api = `globalThis[Symbol.for(${JSON.stringify(KEY)})]`;
  return `(${api}?.live(${id}) === true && ${api}.capture(${id}, [${getters}], this))`;
}

/** Arms a probe in the target; evaluates to `{ resolved }`, or throws when V8 refuses the breakpoint. */
export function armExpression(probeId: string, config: ProbeConfig, breakpoint: BreakpointSpec): string {
  return inTargetExpression(armProbe, { key: KEY, id: probeId, config, breakpoint });
}

/** Fetches what the target queued for `owner` (and tells it the owner is alive); evaluates to a Drained, or null when the capture code is gone. */
export function drainExpression(owner: string): string {
  return inTargetExpression(drainCapture, { key: KEY, owner });
}

/** Starts reporting uncaught exceptions through `binding`; idempotent. */
export function watchErrorsExpression(binding: string): string {
  return inTargetExpression(watchErrors, { key: KEY, binding });
}

export const UNWATCH_ERRORS_EXPRESSION = inTargetExpression(unwatchErrors, KEY);

export function disarmExpression(probeId: string): string {
  return inTargetExpression(disarmProbe, { key: KEY, id: probeId });
}

export const CALLS_EXPRESSION = inTargetExpression(captureCalls, KEY);
