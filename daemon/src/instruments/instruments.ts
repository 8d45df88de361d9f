import type { InstrumentContext, InstrumentKind, SensorPart } from "../parts/sensor-part.js";
import { DbInstrument, DEFAULT_DB_INSTRUMENT_SETTINGS } from "./db-instrument.js";
import { DEFAULT_HTTP_INSTRUMENT_SETTINGS, HttpInstrument } from "./http-instrument.js";
import type { InstrumentSettings } from "./in-target-aggregates.js";

/** Settings an instrument reads once a window: one unread for three windows (at least a minute) belongs to a daemon that died. */
function withWindow<T extends InstrumentSettings>(defaults: T, windowMs: number): T {
  return { ...defaults, abandonedAfterMs: Math.max(defaults.abandonedAfterMs, 3 * windowMs) };
}

/** Installs an instrument and starts its first window: what it saw before now belongs to nobody's window (a re-attach finds the old instrument's). */
async function installed<P extends { install(): Promise<void>; read(): Promise<unknown> }>(instrument: P): Promise<P> {
  await instrument.install();
  await instrument.read();
  return instrument;
}

const httpEndpoints: InstrumentKind<"endpoints"> = {
  setting: "endpoints",
  unavailable: "HTTP endpoints will not be timed",
  async start({ session, windowMs, log, keepRequests }: InstrumentContext): Promise<SensorPart> {
    const settings = withWindow(DEFAULT_HTTP_INSTRUMENT_SETTINGS, windowMs);
    const instrument = await installed(new HttpInstrument(session, keepRequests ? settings : { ...settings, requests: undefined }));
    return {
      doing: `timing HTTP endpoints and outgoing calls${keepRequests ? ", keeping failed and slow requests" : ""}`,
      // The endpoints since the last read: the window's requests, give or take the read's round trip.
      contribute: async ({ scriptUrls }) => {
        for (const line of await instrument.noticeScripts(scriptUrls)) log.info(line);
        const reading = await instrument.read();
        return reading ? { endpoints: reading.endpoints, outgoing: reading.outgoing, requests: reading.requests } : {};
      },
      remove: () => instrument.remove(),
    };
  },
};

const databaseQueries: InstrumentKind<"queries"> = {
  setting: "queries",
  unavailable: "database queries will not be timed",
  async start({ session, windowMs }: InstrumentContext): Promise<SensorPart> {
    const instrument = await installed(new DbInstrument(session, withWindow(DEFAULT_DB_INSTRUMENT_SETTINGS, windowMs)));
    return {
      doing: "timing database queries",
      contribute: async () => {
        const queries = await instrument.read();
        return queries ? { queries } : {};
      },
      // Puts pg's own query method back.
      remove: () => instrument.remove(),
    };
  },
};

/** Every instrument the sensor installs in a target, in order. A new instrument is one line here. */
export const INSTRUMENTS = [httpEndpoints, databaseQueries] as const;
