import type { EndpointStat } from "@seismo/agent-proto";
import { mergeEndpointStats } from "@seismo/agent-proto";
import type { InspectorSession } from "../inspector/session.js";
import { parseInstrumentEntries } from "./http-instrument.js";
import { installDbInstrument } from "../in-target/db-instrument.js";
import { readInstalled, removeInstalled } from "../in-target/installed.js";
import { IN_TARGET_KEYS } from "../in-target/keys.js";
import { inTargetExpression } from "../in-target/script.js";
import type { InstrumentSettings } from "./in-target-aggregates.js";
import { AGGREGATES } from "./in-target-aggregates.js";
import { InstrumentScripts } from "./instrument-scripts.js";


/** Distinct database-and-statement pairs kept per window; past it, "(other)". */
export type DbInstrumentSettings = InstrumentSettings;

export const DEFAULT_DB_INSTRUMENT_SETTINGS: DbInstrumentSettings = { maxEntries: 300, abandonedAfterMs: 60_000 };

/**
 * The expression that installs the database instrument in the target (in-target/db-instrument.ts): every
 * query timed per database and statement, from the call to its result (mysql2's tracing
 * channels; pg's Client.prototype.query wrapped, and put back on removal).
 *
 * The statement is a digest: comments dropped, string and number literals replaced by `?`,
 * lists of them collapsed, whitespace squeezed, cut to 500 characters. No value leaves the
 * process; placeholders ($1, ?) are kept. Each entry's "status" is 0 for a query that succeeded
 * and 1 for one that failed; its "method" is the statement's first keyword (SELECT, INSERT...).
 */
export function dbInstrumentInstall(settings: DbInstrumentSettings): string {
  const { maxEntries, abandonedAfterMs } = settings;
  return inTargetExpression(installDbInstrument, { key: IN_TARGET_KEYS.dbInstrument, patchedKey: IN_TARGET_KEYS.dbInstrumentPatched, maxEntries, abandonedAfterMs, requestsKey: IN_TARGET_KEYS.requestSteps }, [AGGREGATES]);
}

export const DB_INSTRUMENT_READ = inTargetExpression(readInstalled, IN_TARGET_KEYS.dbInstrument);
export const DB_INSTRUMENT_REMOVE = inTargetExpression(removeInstalled, IN_TARGET_KEYS.dbInstrument);

/**
 * The daemon's half of the database instrument: install, a read per window (late answers kept, see
 * InstrumentScripts), removal on detach.
 */
export class DbInstrument {
  private readonly scripts: InstrumentScripts;

  constructor(
    session: InspectorSession,
    private readonly settings: DbInstrumentSettings = DEFAULT_DB_INSTRUMENT_SETTINGS,
  ) {
    this.scripts = new InstrumentScripts(session, "database instrument");
  }

  install(): Promise<void> {
    return this.scripts.install(dbInstrumentInstall(this.settings));
  }

  /** The queries since the last read; undefined when the instrument is gone or the target did not answer in time. */
  async read(timeoutMs = 2_000): Promise<EndpointStat[] | undefined> {
    const values = (await this.scripts.read(DB_INSTRUMENT_READ, timeoutMs))?.filter(Array.isArray);
    if (!values || values.length === 0) return undefined;
    return mergeEndpointStats(values.flatMap(parseInstrumentEntries));
  }

  remove(): Promise<void> {
    return this.scripts.remove(DB_INSTRUMENT_REMOVE);
  }
}
