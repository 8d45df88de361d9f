import type { CpuProfile } from "../sampler/cpu-profile.js";
import type { DeinlineSources, DeinlineStats } from "./deinline.js";
import { deinlineProfile } from "./deinline.js";
import { ObservedCalls } from "./observed-calls.js";
import type { ScriptTables } from "./script-tables.js";

/** What de-inlining has cost and done in one target since attach. */
export interface AttributionStats {
  profiles: number;
  /** Daemon CPU time spent de-inlining (parsing included), ms. */
  totalMs: number;
  maxMs: number;
  parseMs: number;
  scriptsParsed: number;
  bytesParsed: number;
  movedSamples: number;
  uncertainSamples: number;
  framesUnmatched: number;
}

/**
 * One target's de-inlining: what its profiles have shown so far (observed
 * calls) and its scripts' function tables. Every profile the daemon turns into
 * figures (windows and spike bursts) goes through `apply` first.
 */
export class InlineAttribution {
  private readonly observed = new ObservedCalls();
  private readonly totals: Omit<AttributionStats, "parseMs" | "scriptsParsed" | "bytesParsed"> = {
    profiles: 0,
    totalMs: 0,
    maxMs: 0,
    movedSamples: 0,
    uncertainSamples: 0,
    framesUnmatched: 0,
  };

  constructor(private readonly tables: ScriptTables) {}

  /** `sources`: the window's tables, when the caller reads them too (its parse budget is shared). */
  apply(profile: CpuProfile, sources: DeinlineSources = this.tables.forWindow()): { profile: CpuProfile; stats: DeinlineStats; ms: number } {
    const started = performance.now();
    this.observed.learn(profile);
    const result = deinlineProfile(profile, sources, this.observed);
    const ms = performance.now() - started;
    this.totals.profiles++;
    this.totals.totalMs += ms;
    this.totals.maxMs = Math.max(this.totals.maxMs, ms);
    this.totals.movedSamples += result.stats.movedSamples;
    this.totals.uncertainSamples += result.stats.uncertainSamples;
    this.totals.framesUnmatched += result.stats.framesUnmatched;
    return { ...result, ms };
  }

  stats(): AttributionStats {
    const counters = this.tables.counters;
    return { ...this.totals, parseMs: counters.parseMs, scriptsParsed: counters.parsed, bytesParsed: counters.parsedBytes };
  }
}
