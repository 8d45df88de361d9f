import type { Traffic } from "./spike-baseline.js";

/**
 * Whether a CPU spike is load, pure: more of the usual requests, each costing what it did.
 * Judged only where requests were counted on both sides (an HTTP service with its probe on);
 * a worker with no HTTP is judged by its profile's shape alone.
 */

export interface LoadChange {
  /** Incoming requests per second of window time, normally and during the spike. */
  normalPerSecond: number;
  duringPerSecond: number;
  /** Main-thread CPU per request, ms. */
  normalCpuPerRequestMs: number;
  duringCpuPerRequestMs: number;
}

export interface LoadSettings {
  /** Requests needed on each side before a rate or a cost per request means anything. */
  minRequests: number;
  /** A request rate this many times the normal one is a load change... */
  minRise: number;
  /** ...and CPU per request this many times the normal one is not load, whatever the rate did. */
  perRequestRatio: number;
  /**
   * Fewer requests than minRequests during a spike still tell a costlier request when even
   * minRequests of them could not have cost that CPU at the normal price: a spike whose requests
   * each burn 100 ms finishes a dozen in a 1.5 s burst (issue 17's CI: 13 finished, none paged).
   */
  minCostlyRequests: number;
}

export const DEFAULT_LOAD_SETTINGS: LoadSettings = { minRequests: 20, minRise: 1.5, perRequestRatio: 2, minCostlyRequests: 3 };

export type LoadJudgement =
  | { kind: "load"; change: LoadChange; text: string }
  | { kind: "costlier"; change: LoadChange; text: string }
  | { kind: "unchanged"; change: LoadChange | undefined };

export function loadChange(during: Traffic, normal: Traffic, settings: LoadSettings = DEFAULT_LOAD_SETTINGS): LoadChange | undefined {
  if (during.requests < settings.minRequests || normal.requests < settings.minRequests) return undefined;
  if (during.seconds <= 0 || normal.seconds <= 0) return undefined;
  return changeOf(during, normal);
}

/** The rates and costs per request on both sides; each side needs requests and seconds. */
function changeOf(during: Traffic, normal: Traffic): LoadChange {
  return {
    normalPerSecond: normal.requests / normal.seconds,
    duringPerSecond: during.requests / during.seconds,
    normalCpuPerRequestMs: normal.cpuUs / 1_000 / normal.requests,
    duringCpuPerRequestMs: during.cpuUs / 1_000 / during.requests,
  };
}

/** For a spike whose profile has the shape of normal: load, costlier requests, or neither. */
export function judgeLoad(during: Traffic, normal: Traffic, settings: LoadSettings = DEFAULT_LOAD_SETTINGS): LoadJudgement {
  const change = loadChange(during, normal, settings);
  if (!change) return fewCostlyRequests(during, normal, settings) ?? { kind: "unchanged", change };
  const rise = change.duringPerSecond / change.normalPerSecond;
  const cost = change.duringCpuPerRequestMs / change.normalCpuPerRequestMs;
  const figures = `${rate(change.normalPerSecond)} → ${rate(change.duringPerSecond)} requests/s, CPU per request ${ms(change.normalCpuPerRequestMs)} → ${ms(change.duringCpuPerRequestMs)} ms`;
  if (cost >= settings.perRequestRatio) {
    return {
      kind: "costlier",
      change,
      text: `Each request cost ${times(cost)} the CPU it normally does with the same profile shape (${figures}): the usual code doing more work per request, or running slower.`,
    };
  }
  if (rise >= settings.minRise) return { kind: "load", change, text: `Load, not an incident: requests rose ${times(rise)} (${figures}), with the same profile shape.` };
  return { kind: "unchanged", change };
}

/**
 * Few requests finished while the spike lasted: costlier only when the CPU, spread over as many
 * requests as a judgement needs (more than finished), still costs each far more than normal.
 */
function fewCostlyRequests(during: Traffic, normal: Traffic, settings: LoadSettings): LoadJudgement | undefined {
  if (normal.requests < settings.minRequests || normal.seconds <= 0 || during.seconds <= 0) return undefined;
  if (during.requests < settings.minCostlyRequests || during.requests >= settings.minRequests) return undefined;
  const change = changeOf(during, normal);
  const atLeast = during.cpuUs / 1_000 / settings.minRequests / change.normalCpuPerRequestMs;
  if (atLeast < settings.perRequestRatio) return undefined;
  return {
    kind: "costlier",
    change,
    text:
      `Each request cost at least ${times(atLeast)} the CPU it normally does with the same profile shape ` +
      `(only ${Math.round(during.requests)} finished while it lasted, at ${ms(change.duringCpuPerRequestMs)} ms each against ${ms(change.normalCpuPerRequestMs)} ms; ` +
      `counted as ${settings.minRequests}, ${ms(during.cpuUs / 1_000 / settings.minRequests)} ms each): the usual code doing more work per request, or running slower.`,
  };
}

function rate(perSecond: number): string {
  return perSecond >= 10 ? perSecond.toFixed(0) : perSecond.toFixed(1);
}

function ms(value: number): string {
  return value >= 10 ? value.toFixed(0) : value.toFixed(2);
}

function times(ratio: number): string {
  return `${ratio >= 10 ? ratio.toFixed(0) : ratio.toFixed(1)}×`;
}

/**
 * For a spike judged against the windows after it (there were none at its load before): traffic
 * that arrived, or rose, when requests during the spike far outnumber those just before it.
 */
export function judgeArrival(during: Traffic, before: Traffic, following: Traffic, settings: LoadSettings = DEFAULT_LOAD_SETTINGS): LoadJudgement {
  if (during.requests < settings.minRequests || during.seconds <= 0) return { kind: "unchanged", change: undefined };
  const beforePerSecond = before.seconds > 0 ? before.requests / before.seconds : 0;
  const duringPerSecond = during.requests / during.seconds;
  if (duringPerSecond < settings.minRise * beforePerSecond) return { kind: "unchanged", change: undefined };
  const change: LoadChange = {
    normalPerSecond: beforePerSecond,
    duringPerSecond,
    normalCpuPerRequestMs: following.requests > 0 ? following.cpuUs / 1_000 / following.requests : 0,
    duringCpuPerRequestMs: during.cpuUs / 1_000 / during.requests,
  };
  const cost = following.requests > 0 ? `, CPU per request ${ms(change.duringCpuPerRequestMs)} ms against ${ms(change.normalCpuPerRequestMs)} ms in the windows after it` : "";
  const what = beforePerSecond < 1 ? "traffic arrived" : `requests rose ${times(duringPerSecond / beforePerSecond)}`;
  return {
    kind: "load",
    change,
    text: `Load, not an incident: ${what} (${rate(beforePerSecond)} → ${rate(duringPerSecond)} requests/s${cost}), with the profile shape of the windows after it.`,
  };
}
