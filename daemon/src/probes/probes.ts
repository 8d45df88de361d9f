import type { ProbeContext, ProbeKind, SensorPart } from "../parts/sensor-part.js";
import { DbProbe, DEFAULT_DB_PROBE_SETTINGS } from "./db-probe.js";
import { DEFAULT_HTTP_PROBE_SETTINGS, HttpProbe } from "./http-probe.js";
import type { ProbeSettings } from "./in-target-aggregates.js";

/** Settings a probe reads once a window: one unread for three windows (at least a minute) belongs to a daemon that died. */
function withWindow<T extends ProbeSettings>(defaults: T, windowMs: number): T {
  return { ...defaults, abandonedAfterMs: Math.max(defaults.abandonedAfterMs, 3 * windowMs) };
}

/** Installs a probe and starts its first window: what it saw before now belongs to nobody's window (a re-attach finds the old probe's). */
async function installed<P extends { install(): Promise<void>; read(): Promise<unknown> }>(probe: P): Promise<P> {
  await probe.install();
  await probe.read();
  return probe;
}

const httpEndpoints: ProbeKind<"endpoints"> = {
  setting: "endpoints",
  unavailable: "HTTP endpoints will not be timed",
  async start({ session, windowMs }: ProbeContext): Promise<SensorPart> {
    const probe = await installed(new HttpProbe(session, withWindow(DEFAULT_HTTP_PROBE_SETTINGS, windowMs)));
    return {
      doing: "timing HTTP endpoints and outgoing calls",
      // The endpoints since the last read: the window's requests, give or take the read's round trip.
      contribute: async () => {
        const reading = await probe.read();
        return reading ? { endpoints: reading.endpoints, outgoing: reading.outgoing } : {};
      },
      remove: () => probe.remove(),
    };
  },
};

const databaseQueries: ProbeKind<"queries"> = {
  setting: "queries",
  unavailable: "database queries will not be timed",
  async start({ session, windowMs }: ProbeContext): Promise<SensorPart> {
    const probe = await installed(new DbProbe(session, withWindow(DEFAULT_DB_PROBE_SETTINGS, windowMs)));
    return {
      doing: "timing database queries",
      contribute: async () => {
        const queries = await probe.read();
        return queries ? { queries } : {};
      },
      // Puts pg's own query method back.
      remove: () => probe.remove(),
    };
  },
};

/** Every probe the sensor installs in a target, in order. A new probe is one line here. */
export const PROBES = [httpEndpoints, databaseQueries] as const;
