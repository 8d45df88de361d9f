import { inTargetRequestForensics } from "../in-target/request-forensics.js";
import type { RequestForensicsSettings } from "../in-target/request-forensics.js";
import { IN_TARGET_KEYS } from "../in-target/keys.js";
import type { InTargetCall } from "../in-target/script.js";
import { inTargetCall } from "../in-target/script.js";

/**
 * What is kept of failed and slow requests (in-target/request-forensics.ts), and why these figures:
 * - slow means over 500 ms, or over the route's p99 when that is higher (learned from the last
 *   window with 50 of its requests): a route that always takes 2 s is not slow at 1.5 s;
 * - 3 requests per route at once and one more every 20 s (3 a minute once a route keeps failing),
 *   60 a minute in all, 100 waiting at most between two reads: a route failing a thousand times a
 *   second sends a few stories a minute, not a thousand (bench/request-forensics.mjs measures it);
 * - 30 queries and calls per request, values as strict as a capture's (depth 3, 20 fields,
 *   20 items, 255 characters, 8 KB) within 10 ms, past which a value is marked and not read (2 ms
 *   cut a request's params in CI, where a busy machine stalled the app's thread that long);
 * - only these request headers: never an authorization or cookie header, whatever it is called.
 */
export const DEFAULT_REQUEST_FORENSICS: RequestForensicsSettings = {
  key: IN_TARGET_KEYS.requestSteps,
  slowFloorMs: 500,
  slowMinRequests: 50,
  maxSteps: 30,
  routeBurst: 3,
  routeRefillMs: 20_000,
  maxPerMinute: 60,
  maxQueued: 100,
  maxRoutes: 300,
  headers: ["content-type", "content-length", "accept", "user-agent", "host", "x-request-id", "x-correlation-id", "traceparent"],
  limits: { maxDepth: 3, maxFields: 20, maxItems: 20, maxString: 255, maxBytes: 8_192, timeBudgetMs: 10 },
};

/** The request forensics as a library of the HTTP instrument's install expression. */
export function requestForensicsLibrary(settings: RequestForensicsSettings = DEFAULT_REQUEST_FORENSICS): InTargetCall {
  return inTargetCall(inTargetRequestForensics, settings);
}
