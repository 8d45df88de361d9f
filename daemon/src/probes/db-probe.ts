import type { EndpointStat } from "@seismo/agent-proto";
import { mergeEndpointStats } from "@seismo/agent-proto";
import type { InspectorSession } from "../inspector/session.js";
import { parseProbeEntries } from "./http-probe.js";
import { installDbProbe } from "../in-target/db-probe.js";
import { readInstalled, removeInstalled } from "../in-target/installed.js";
import { IN_TARGET_KEYS } from "../in-target/keys.js";
import { inTargetExpression } from "../in-target/script.js";
import type { ProbeSettings } from "./in-target-aggregates.js";
import { AGGREGATES } from "./in-target-aggregates.js";
import { ProbeScripts } from "./probe-reads.js";


/** Distinct database-and-statement pairs kept per window; past it, "(other)". */
export type DbProbeSettings = ProbeSettings;

export const DEFAULT_DB_PROBE_SETTINGS: DbProbeSettings = { maxEntries: 300, abandonedAfterMs: 60_000 };

/**
 * The expression that installs the database probe in the target (in-target/db-probe.ts): every
 * query timed per database and statement, from the call to its result (mysql2's tracing
 * channels; pg's Client.prototype.query wrapped, and put back on removal).
 *
 * The statement is a digest: comments dropped, string and number literals replaced by `?`,
 * lists of them collapsed, whitespace squeezed, cut to 500 characters. No value leaves the
 * process; placeholders ($1, ?) are kept. Each entry's "status" is 0 for a query that succeeded
 * and 1 for one that failed; its "method" is the statement's first keyword (SELECT, INSERT...).
 */
export function dbProbeInstall(settings: DbProbeSettings): string {
  const { maxEntries, abandonedAfterMs } = settings;
  return inTargetExpression(installDbProbe, { key: IN_TARGET_KEYS.dbProbe, patchedKey: IN_TARGET_KEYS.dbProbePatched, maxEntries, abandonedAfterMs }, [AGGREGATES]);
}

export const DB_PROBE_READ = inTargetExpression(readInstalled, IN_TARGET_KEYS.dbProbe);
export const DB_PROBE_REMOVE = inTargetExpression(removeInstalled, IN_TARGET_KEYS.dbProbe);

/**
 * The daemon's half of the database probe: install, a read per window (late answers kept, see
 * ProbeScripts), removal on detach.
 */
export class DbProbe {
  private readonly scripts: ProbeScripts;

  constructor(
    session: InspectorSession,
    private readonly settings: DbProbeSettings = DEFAULT_DB_PROBE_SETTINGS,
  ) {
    this.scripts = new ProbeScripts(session, "database probe");
  }

  install(): Promise<void> {
    return this.scripts.install(dbProbeInstall(this.settings));
  }

  /** The queries since the last read; undefined when the probe is gone or the target did not answer in time. */
  async read(timeoutMs = 2_000): Promise<EndpointStat[] | undefined> {
    const values = (await this.scripts.read(DB_PROBE_READ, timeoutMs))?.filter(Array.isArray);
    if (!values || values.length === 0) return undefined;
    return mergeEndpointStats(values.flatMap(parseProbeEntries));
  }

  remove(): Promise<void> {
    return this.scripts.remove(DB_PROBE_REMOVE);
  }
}
