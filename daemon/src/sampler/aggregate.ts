import type { FunctionStat, HotLine } from "@seismo/agent-proto";
import type { CallFrame, CpuProfile, ProfileNode } from "./cpu-profile.js";
import { filePathOfScriptUrl, packageOfPath } from "./package-of.js";

/** Looks up a package's version by its directory; undefined when unknown. Does I/O, so it is injected. */
export type PackageVersionLookup = (packageRoot: string) => string | undefined;

export interface WindowTotals {
  totalSamples: number;
  /** Sampled time excluding idle and GC: the denominator of every share. */
  cpuUs: number;
  idleUs: number;
  gcUs: number;
  programUs: number;
  /** Samples inside Seismo's own rotation (see isSensorFrame): not the app's time, not in cpuUs. */
  sensorUs: number;
  /** Wall time the thread was descheduled, left out of every other figure; 0 without samplingIntervalUs. */
  descheduledUs: number;
}

export interface AggregatedProfile extends WindowTotals {
  /** Sorted by self time, most first. */
  functions: FunctionStat[];
}

export interface AggregateOptions {
  versionOf?: PackageVersionLookup;
  /** Hot lines kept per function. */
  maxHotLines?: number;
  /**
   * The interval the profile was sampled at. When given, time the thread was
   * not running is left out (see sampleWeights); without it every gap is
   * charged to what was running, as V8's own tools do.
   */
  samplingIntervalUs?: number;
  /** How an inlining candidate is named ("name (file:line)"); the sensor names it at its original source. */
  describeFrame?: (frame: CallFrame) => string;
}

/**
 * A gap longer than this many sampling intervals means the JS thread was not
 * running: the OS had descheduled it (CPU contention, a cgroup's CPU quota).
 */
export const DESCHEDULED_GAP_INTERVALS = 1.5;

const IDLE = "(idle)";
const GC = "(garbage collector)";
const PROGRAM = "(program)";
const ROOT = "(root)";

/**
 * Seismo's window rotation calls the inspector's native profile()/profileEnd()
 * (scriptId "0", no URL), and V8 records that stack as a new profile's first
 * sample, charged a whole interval. Those samples are the sensor's, not the app's.
 */
export function isSensorFrame(frame: CallFrame): boolean {
  return (frame.functionName === "profile" || frame.functionName === "profileEnd") && frame.url === "" && frame.scriptId === "0";
}

interface Accumulator {
  frame: CallFrame;
  selfSamples: number;
  totalSamples: number;
  selfUs: number;
  totalUs: number;
  lineTicks: Map<number, number>;
  inlinedSamples: number;
  uncertainSamples: number;
  candidates: Map<string, CallFrame>;
  /** For a native function: the JavaScript function it was called from (its time is counted per caller). */
  caller: CallFrame | undefined;
}

/**
 * V8 names a regular expression's compiled code "RegExp: <source>", but only
 * when it was compiled while the profiler ran: one compiled before Seismo
 * attached is charged to the function that runs it. So that the same code
 * reads the same in every process, whenever the sensor attached, a regular
 * expression's time always goes to the function that runs it (the same
 * choice as the spike analysis: a RegExp runs app-written code).
 */
function regexOwner(id: number, nodes: Map<number, ProfileNode>, parentOf: Map<number, number>): number {
  let at = id;
  for (;;) {
    const frame = nodes.get(at)?.callFrame;
    const parent = parentOf.get(at);
    if (!frame || parent === undefined || !isRegexCode(frame)) return at;
    const parentName = nodes.get(parent)?.callFrame.functionName;
    if (parentName === undefined || parentName === ROOT) return at;
    at = parent;
  }
}

/** A function V8 runs natively (a C++ binding such as writev or stat, a builtin), not a pseudo-frame or a regular expression. */
export function isNativeFrame(frame: CallFrame): boolean {
  return frame.url === "" && frame.functionName !== "" && !frame.functionName.startsWith("(") && !isRegexCode(frame) && !isSensorFrame(frame);
}

export function isRegexCode(frame: CallFrame): boolean {
  return frame.url === "" && frame.functionName.startsWith("RegExp: ");
}

/** Functions are identified by where they are declared, not by V8's per-process scriptId. */
function functionKey(frame: CallFrame): string {
  return `${frame.url}\u0000${frame.functionName}\u0000${frame.lineNumber}\u0000${frame.columnNumber}`;
}

/** Each sample's timestamp, from the profile's start time and deltas. */
function sampleTimestamps(profile: CpuProfile): number[] {
  const deltas = profile.timeDeltas ?? [];
  const samples = profile.samples ?? [];
  const timestamps: number[] = new Array(samples.length);
  let t = profile.startTime;
  for (let i = 0; i < samples.length; i++) {
    t += deltas[i] ?? 0;
    timestamps[i] = t;
  }
  return timestamps;
}

/**
 * How long each sample stands for: the time until the next sample (the last one
 * runs to the profile's end). Real gaps (a busy sampler thread, a blocked
 * process) are thus charged to what was running, as V8's own tools do.
 */
function wallDurations(profile: CpuProfile): number[] {
  const timestamps = sampleTimestamps(profile);
  const durations: number[] = new Array(timestamps.length);
  for (let i = 0; i < timestamps.length; i++) {
    const next = i + 1 < timestamps.length ? (timestamps[i + 1] as number) : profile.endTime;
    durations[i] = Math.max(0, next - (timestamps[i] as number));
  }
  return durations;
}

/**
 * How much running time each sample stands for, when the sampling interval is
 * known. V8 samples by wall clock: its sampler thread signals the JS thread
 * every interval. When the OS has descheduled the JS thread, the signals
 * coalesce into one sample taken the moment it runs again, and the wall-clock
 * duration charges the whole gap to where it stopped. Neither is CPU time, and
 * both favour code that runs late after a wake-up, when a busy CPU preempts
 * (measured: the last of three equal functions in a request read 1.5x the
 * first on a loaded machine, 1.03x with these weights). So a sample that comes
 * after a gap is dropped, and no sample stands for more than the gap limit.
 */
function runningDurations(profile: CpuProfile, intervalUs: number): { durations: number[]; descheduledUs: number } {
  const limit = DESCHEDULED_GAP_INTERVALS * intervalUs;
  const deltas = profile.timeDeltas ?? [];
  const wall = wallDurations(profile);
  let descheduledUs = 0;
  const durations = wall.map((us, i) => {
    // The first delta runs from the profile's start, not from a sample: no gap to judge.
    const resumed = i > 0 && (deltas[i] ?? 0) > limit;
    const kept = resumed ? 0 : Math.min(us, limit);
    descheduledUs += us - kept;
    return kept;
  });
  return { durations, descheduledUs };
}

/**
 * Folds one CPU profile into per-function figures: self and total samples and
 * time, and the hottest lines. Pure: the only outside knowledge, package
 * versions, comes through `versionOf`.
 */
export function aggregateProfile(profile: CpuProfile, options: AggregateOptions = {}): AggregatedProfile {
  const maxHotLines = options.maxHotLines ?? 5;
  const nodes = new Map<number, ProfileNode>();
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) {
    nodes.set(node.id, node);
    for (const child of node.children ?? []) parentOf.set(child, node.id);
  }

  // Per node first (there are far fewer nodes than samples), then per function.
  const nodeUs = new Map<number, number>();
  const nodeSamples = new Map<number, number>();
  const { durations, descheduledUs } = options.samplingIntervalUs
    ? runningDurations(profile, options.samplingIntervalUs)
    : { durations: wallDurations(profile), descheduledUs: 0 };
  const samples = profile.samples ?? [];
  const totals: WindowTotals = { totalSamples: samples.length, cpuUs: 0, idleUs: 0, gcUs: 0, programUs: 0, sensorUs: 0, descheduledUs };
  const sensorNodes = new Set<number>();
  for (const node of profile.nodes) if (isSensorFrame(node.callFrame)) sensorNodes.add(node.id);
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i] as number;
    const us = durations[i] as number;
    nodeUs.set(id, (nodeUs.get(id) ?? 0) + us);
    nodeSamples.set(id, (nodeSamples.get(id) ?? 0) + 1);
    const name = nodes.get(id)?.callFrame.functionName;
    if (sensorNodes.has(id)) totals.sensorUs += us;
    else if (name === IDLE) totals.idleUs += us;
    else if (name === GC) totals.gcUs += us;
    else {
      totals.cpuUs += us;
      if (name === PROGRAM) totals.programUs += us;
    }
  }

  const byKey = new Map<string, Accumulator>();
  // A native frame (writev, stat) says nothing of who asked for it: it is counted per the
  // JavaScript function that called it, the nearest outside Node's own code when there is one.
  const callers = new Map<number, CallFrame | undefined>();
  const callerOf = (id: number): CallFrame | undefined => {
    if (callers.has(id)) return callers.get(id);
    let nearest: CallFrame | undefined;
    let found: CallFrame | undefined;
    for (let at = parentOf.get(id); at !== undefined; at = parentOf.get(at)) {
      const frame = nodes.get(at)?.callFrame;
      if (!frame || frame.url === "") continue;
      nearest ??= frame;
      if (!frame.url.startsWith("node:")) {
        found = frame;
        break;
      }
    }
    const caller = found ?? nearest;
    callers.set(id, caller);
    return caller;
  };
  const keyOf = (id: number, frame: CallFrame): { key: string; caller: CallFrame | undefined } => {
    if (!isNativeFrame(frame)) return { key: functionKey(frame), caller: undefined };
    const caller = callerOf(id);
    // Keyed by the caller as published (name, file and line): two callers that differ only by
    // column (two callbacks on one line) are one row, as the store identifies it.
    return { key: caller ? `${functionKey(frame)}\u0001${describeCandidate(caller)}` : functionKey(frame), caller };
  };
  const accumulatorFor = (id: number, frame: CallFrame): Accumulator => {
    const { key, caller } = keyOf(id, frame);
    let acc = byKey.get(key);
    if (!acc) {
      acc = { frame, selfSamples: 0, totalSamples: 0, selfUs: 0, totalUs: 0, lineTicks: new Map(), inlinedSamples: 0, uncertainSamples: 0, candidates: new Map(), caller };
      byKey.set(key, acc);
    }
    return acc;
  };

  for (const [sampledId, us] of nodeUs) {
    const id = regexOwner(sampledId, nodes, parentOf);
    const node = nodes.get(id);
    if (!node || sensorNodes.has(id) || isPseudoExcluded(node.callFrame.functionName)) continue;
    const count = nodeSamples.get(sampledId) ?? 0;
    const self = accumulatorFor(id, node.callFrame);
    self.selfUs += us;
    self.selfSamples += count;
    // Total time: once per distinct function on the stack, so recursion is not double-counted.
    const seen = new Set<Accumulator>();
    for (let at: number | undefined = id; at !== undefined; at = parentOf.get(at)) {
      const frame = nodes.get(at)?.callFrame;
      if (!frame || frame.functionName === ROOT) continue;
      const acc = accumulatorFor(at, frame);
      if (seen.has(acc)) continue;
      seen.add(acc);
      acc.totalUs += us;
      acc.totalSamples += count;
    }
  }

  for (const node of profile.nodes) {
    if (!node.positionTicks?.length || isPseudoExcluded(node.callFrame.functionName)) continue;
    const acc = byKey.get(keyOf(node.id, node.callFrame).key);
    if (!acc) continue;
    for (const tick of node.positionTicks) acc.lineTicks.set(tick.line, (acc.lineTicks.get(tick.line) ?? 0) + tick.ticks);
    if (node.attribution) {
      acc.inlinedSamples += node.attribution.inlinedSamples;
      acc.uncertainSamples += node.attribution.uncertainSamples;
      for (const candidate of node.attribution.candidates) acc.candidates.set(functionKey(candidate), candidate);
    }
  }

  const functions = [...byKey.values()].map((acc) => toFunctionStat(acc, maxHotLines, options.versionOf, options.describeFrame));
  functions.sort((a, b) => b.selfUs - a.selfUs || b.totalUs - a.totalUs || a.name.localeCompare(b.name));
  return { ...totals, functions };
}

function isPseudoExcluded(name: string): boolean {
  return name === IDLE || name === GC || name === ROOT;
}

function toFunctionStat(acc: Accumulator, maxHotLines: number, versionOf?: PackageVersionLookup, describe?: (frame: CallFrame) => string): FunctionStat {
  const filePath = filePathOfScriptUrl(acc.frame.url);
  const pkg = filePath ? packageOfPath(filePath) : undefined;
  const hotLines: HotLine[] = [...acc.lineTicks]
    .map(([line, samples]) => ({ line, samples }))
    .sort((a, b) => b.samples - a.samples || a.line - b.line)
    .slice(0, maxHotLines);
  return {
    name: acc.frame.functionName || "(anonymous)",
    scriptUrl: acc.frame.url,
    filePath,
    line: acc.frame.lineNumber + 1,
    column: acc.frame.columnNumber + 1,
    packageName: pkg?.name ?? "",
    packageVersion: (pkg && versionOf?.(pkg.root)) ?? "",
    selfSamples: acc.selfSamples,
    totalSamples: acc.totalSamples,
    selfUs: Math.round(acc.selfUs),
    totalUs: Math.round(acc.totalUs),
    hotLines,
    inlinedSamples: acc.inlinedSamples,
    uncertainSamples: acc.uncertainSamples,
    inlineCandidates: [...acc.candidates.values()].slice(0, MAX_CANDIDATES).map(describe ?? describeCandidate),
    generatedFile: "",
    generatedLine: 0,
    generatedColumn: 0,
    calledBy: acc.caller ? (describe ?? describeCandidate)(acc.caller) : "",
  };
}

/** Candidates named per function at most: enough to say what the time may be. */
const MAX_CANDIDATES = 4;

/** "price (lib/pricing.js:3)": how a candidate is named on the wire and in every surface. */
export function describeCandidate(frame: CallFrame): string {
  return describeLocation(frame.functionName, filePathOfScriptUrl(frame.url) || frame.url, frame.lineNumber + 1);
}

/** "name (short/path.js:line)", the path cut to the package or the last two segments. */
export function describeLocation(name: string, path: string, line: number): string {
  return `${name || "(anonymous)"} (${shortPath(path)}:${line})`;
}

/** From node_modules on for a dependency, else the last two segments. */
function shortPath(path: string): string {
  const at = path.lastIndexOf("/node_modules/");
  if (at >= 0) return path.slice(at + "/node_modules/".length);
  return path.split("/").slice(-2).join("/");
}
