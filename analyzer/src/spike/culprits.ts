import type { BurstProfile, ProfileFrame, ProfileNode } from "@seismo/agent-proto";

/**
 * Culprit analysis of a CPU spike, pure: the burst profile taken during the
 * spike against the baseline of the service's recent normal windows. Functions
 * (and built-in calls, see below) are ranked by excess self time: their share
 * of CPU during the spike minus their share normally. A spike whose profile has
 * the same shape as normal (more traffic doing the same things) has no such
 * function and is not an incident.
 */

/** One function's self time over the baseline windows, as the store aggregates it. */
export interface BaselineFunction {
  name: string;
  scriptUrl: string;
  /** 1-based declaration line. */
  line: number;
  selfUs: number;
  /** Its time with everything it called (inclusive); absent where the windows did not say. */
  totalUs?: number;
  /** [line, samples], summed over the windows' hot lines. */
  hotLines: Array<[number, number]>;
}

export interface Baseline {
  windows: number;
  /** CPU time of the windows (idle and GC excluded): the denominator of baseline shares. */
  cpuUs: number;
  functions: BaselineFunction[];
  /** The windows summed, when they came from the store (for their traffic). */
  windowIds?: readonly number[];
}

export interface SourceLocation {
  name: string;
  /** Filesystem path, or the script URL for Node internals; null for built-ins and V8 pseudo-frames. */
  file: string | null;
  line: number | null;
}

export interface CallerFrame extends SourceLocation {
  package: string | null;
  packageVersion: string | null;
}

export interface Culprit extends CallerFrame {
  /** A built-in function (JSON.parse, zlib.gzipSync, ...): the time was inside it, called from appFrame. */
  builtin: boolean;
  /** Share of CPU during the spike, and normally (0..1). */
  share: number;
  baselineShare: number;
  /** The line where most of the time went, when V8 reported lines. */
  hotLine: number | null;
  /** The first frame in the app's own code (outside node_modules and Node internals), from the culprit up. Null when there is none. */
  appFrame: SourceLocation | null;
  /** From the outermost caller down to the culprit, on its heaviest stack (at most MAX_CHAIN frames, outermost elided first). */
  callers: CallerFrame[];
  /** E.g. "RegExp#test on line 23": what the hot line does, when Seismo could tell. */
  note: string | null;
  samples: number;
}

export interface StackSummary {
  /** Outermost first. */
  frames: CallerFrame[];
  share: number;
  samples: number;
}

export type Verdict = "incident" | "ordinary";

export interface SpikeAnalysis {
  verdict: Verdict;
  /** Why, in one sentence. */
  reason: string;
  culprits: Culprit[];
  topStacks: StackSummary[];
  /** Sampled CPU during the burst, ms (idle and GC excluded), and the GC share of all non-idle time. */
  cpuMs: number;
  gcShare: number;
  samples: number;
  baselineWindows: number;
}

export interface AnalysisSettings {
  /** A culprit takes at least this share during the spike... */
  minShare: number;
  /** ...and at least this much more than normally... */
  minExcess: number;
  /** ...and at least this multiple of its normal share. */
  minRatio: number;
  /** Baseline windows needed to judge the shape; with fewer, only a blocked loop or one dominant function makes an incident. */
  minBaselineWindows: number;
  maxCulprits: number;
  /** Without a baseline, a function must take this share of the spike for it to be an incident. */
  dominantShare: number;
}

export const DEFAULT_ANALYSIS_SETTINGS: AnalysisSettings = {
  minShare: 0.15,
  minExcess: 0.15,
  minRatio: 2,
  minBaselineWindows: 3,
  maxCulprits: 5,
  dominantShare: 0.5,
};

/**
 * A function whose own share rose while the functions it calls all but vanished (kept less than
 * this part of their normal share), and whose share with them did not grow by minExcess, took
 * their time, not new work: V8 charges a caller for what it inlined into code compiled before
 * the burst's profile began, which has no positions for the inlined code (issue 17: traffic
 * arriving, a handler at 70 % of the burst in its own code, 1 % normally, 70 % with its callees
 * either way).
 */
const MOVED_CALLEES_LEFT = 0.25;
/**
 * The rolling windows over the burst's moments say something only with this much CPU in them
 * (30 samples at 10 ms). They are the same time sampled by the profiler that knows where V8
 * inlined what: a function the burst charges with a far larger share than normal, which they show
 * with less than half of that rise while no function at all grew in them, was charged its
 * callees' time by the burst's profiler (issue 17: a sidecar attached just before the traffic,
 * `/products` at 27 % of the burst in its own code, 1.4 % in the windows of the same 1.5 s).
 */
const MIN_SAME_MOMENTS_CPU_US = 300_000;
const MAX_CHAIN = 16;
/** A culprit this much of whose time may be inlined code says so in its note. */
const UNCERTAIN_NOTE_SHARE = 0.2;
const IDLE = "(idle)";
const GC = "(garbage collector)";
const ROOT = "(root)";

interface Unit {
  key: string;
  frame: ProfileFrame;
  builtin: string | undefined;
  line: number | undefined;
  us: number;
  samples: number;
  /** The node contributing most, for the caller chain. */
  heaviest: { node: ProfileNode; us: number } | undefined;
  /** Of `samples`, those the daemon could not tell from inlined code of `candidates` (deinline.ts). */
  uncertainSamples: number;
  candidates: Set<string>;
}

function displayName(frame: ProfileFrame): string {
  return frame.functionName || "(anonymous)";
}

function functionKey(scriptUrl: string, name: string, line: number): string {
  return `${scriptUrl}\u0000${name}\u0000${line}`;
}

/** App code: a file outside node_modules. Node internals (node:...), eval code and V8 pseudo-frames are not. */
export function isAppFrame(frame: { filePath: string }): boolean {
  return frame.filePath !== "" && !frame.filePath.includes("/node_modules/");
}

function location(frame: ProfileFrame, line?: number): CallerFrame {
  const isNode = frame.scriptUrl.startsWith("node:");
  return {
    name: displayName(frame),
    file: frame.filePath || (isNode ? frame.scriptUrl : null),
    line: line ?? (frame.line > 0 ? frame.line : null),
    package: frame.packageName || (isNode ? "node" : null),
    packageVersion: frame.packageName ? frame.packageVersion || null : null,
  };
}

/** Built-ins whose time is their own (JSON, zlib, crypto); a RegExp runs app-written code and stays with the app function. */
function ownedBuiltins(builtins: string[]): string[] {
  return builtins.filter((b) => !b.startsWith("RegExp#"));
}

export function analyzeSpike(
  burst: BurstProfile,
  baseline: Baseline,
  context: {
    loopBlocked: boolean;
    /** The rolling windows over the burst's moments, when the store has them (loadBurstWindows). */
    sameMoments?: Baseline;
  },
  settings: AnalysisSettings = DEFAULT_ANALYSIS_SETTINGS,
): SpikeAnalysis {
  const nodes = new Map<number, ProfileNode>();
  for (const node of burst.nodes) nodes.set(node.id, node);
  const frameOf = (node: ProfileNode): ProfileFrame => burst.frames[node.frame] as ProfileFrame;

  // Time per node: each sample stands for the time until the next one.
  const nodeUs = new Map<number, number>();
  const nodeSamples = new Map<number, number>();
  let t = burst.startTimeUs;
  const stamps = burst.samples.map((_, i) => (t += burst.timeDeltas[i] ?? 0));
  for (let i = 0; i < burst.samples.length; i++) {
    const id = burst.samples[i] as number;
    const us = Math.max(0, (i + 1 < stamps.length ? (stamps[i + 1] as number) : burst.endTimeUs) - (stamps[i] as number));
    nodeUs.set(id, (nodeUs.get(id) ?? 0) + us);
    nodeSamples.set(id, (nodeSamples.get(id) ?? 0) + 1);
  }

  let cpuUs = 0;
  let gcUs = 0;
  const units = new Map<string, Unit>();
  const unitFor = (key: string, frame: ProfileFrame, builtin?: string, line?: number): Unit => {
    let unit = units.get(key);
    if (!unit) units.set(key, (unit = { key, frame, builtin, line, us: 0, samples: 0, heaviest: undefined, uncertainSamples: 0, candidates: new Set() }));
    return unit;
  };
  const credit = (unit: Unit, node: ProfileNode, us: number, samples: number): void => {
    unit.us += us;
    unit.samples += samples;
    if (!unit.heaviest || us > unit.heaviest.us) unit.heaviest = { node, us };
  };

  // A regular expression's own code node ("RegExp: <source>", present only when it was compiled
  // during the burst) goes to the function that runs it, as in the windows the baseline comes from.
  const ownerOf = (id: number): number => {
    let at = id;
    for (let node = nodes.get(at); node; node = nodes.get(at)) {
      const frame = frameOf(node);
      const parent = nodes.get(node.parentId);
      if (frame.scriptUrl !== "" || !frame.functionName.startsWith("RegExp: ") || !parent || frameOf(parent).functionName === ROOT) break;
      at = parent.id;
    }
    return at;
  };

  for (const [sampledId, us] of nodeUs) {
    const id = ownerOf(sampledId);
    const node = nodes.get(id);
    if (!node) continue;
    const frame = frameOf(node);
    const name = frame.functionName;
    const samples = nodeSamples.get(sampledId) ?? 0;
    if (name === IDLE || name === ROOT) continue;
    if (name === GC) {
      gcUs += us;
      continue;
    }
    cpuUs += us;
    const fnKey = functionKey(frame.scriptUrl, displayName(frame), frame.line);
    // Split the node's time by line, moving the lines that call an owned built-in to that built-in.
    // (A regular expression's time has no line of its own in its runner: it stays whole.)
    const ticks = sampledId === id ? node.positionTicks.reduce((sum, tick) => sum + tick.samples, 0) : 0;
    let rest = us;
    let restSamples = samples;
    if (ticks > 0) {
      for (const tick of node.positionTicks) {
        const builtins = ownedBuiltins(frame.lineCalls.find((c) => c.line === tick.line)?.builtins ?? []);
        if (builtins.length === 0) continue;
        const part = (us * tick.samples) / ticks;
        const partSamples = Math.round((samples * tick.samples) / ticks);
        const label = builtins.join(" + ");
        credit(unitFor(`builtin\u0000${label}\u0000${fnKey}\u0000${tick.line}`, frame, label, tick.line), node, part, partSamples);
        rest -= part;
        restSamples -= partSamples;
      }
    }
    if (rest > 0) {
      const unit = unitFor(`fn\u0000${fnKey}`, frame);
      credit(unit, node, rest, Math.max(0, restSamples));
      // The daemon's mark: part of this node's time may be inlined code it could not place.
      if (sampledId === id && (node.uncertainSamples ?? 0) > 0) {
        unit.uncertainSamples += node.uncertainSamples;
        for (const index of node.candidateFrames ?? []) {
          const candidate = burst.frames[index];
          if (candidate && unit.candidates.size < 4) unit.candidates.add(`${displayName(candidate)} (${candidate.filePath || candidate.scriptUrl}:${candidate.line})`);
        }
      }
    }
  }

  const baselineShare = baselineShares(baseline);
  const baselineTotal = baselineTotals(baseline);
  const burstTotalUs = inclusiveUs(nodeUs, nodes, frameOf);
  const hasBaseline = baseline.windows >= settings.minBaselineWindows && baseline.cpuUs > 0;
  /**
   * For a function (not a built-in) whose callees all but vanished and whose share with them did
   * not grow: its shares with callees, during the spike and normally. Undefined otherwise.
   */
  const movedFromCallees = (unit: Unit, share: number, normal: number): { total: number; normalTotal: number } | undefined => {
    if (!hasBaseline || unit.builtin !== undefined || cpuUs <= 0) return undefined;
    const key = functionKey(unit.frame.scriptUrl, displayName(unit.frame), unit.frame.line);
    const normalTotal = baselineTotal(key);
    if (normalTotal === undefined) return undefined;
    const total = (burstTotalUs.get(key) ?? 0) / cpuUs;
    const calleesNormally = normalTotal - normal;
    const calleesNow = total - share;
    const moved = calleesNormally >= settings.minExcess && calleesNow <= MOVED_CALLEES_LEFT * calleesNormally && total - normalTotal < settings.minExcess;
    return moved ? { total, normalTotal } : undefined;
  };
  const ranked = [...units.values()]
    .map((unit) => {
      const share = cpuUs > 0 ? unit.us / cpuUs : 0;
      const normal = hasBaseline ? baselineShare(unit) : 0;
      return { unit, share, normal, excess: share - normal, moved: movedFromCallees(unit, share, normal) };
    })
    .sort((a, b) => b.excess - a.excess || b.share - a.share);

  const grewAlone = (r: { share: number; normal: number; excess: number }): boolean =>
    r.share >= settings.minShare && r.excess >= settings.minExcess && (r.normal < 0.01 || r.share >= settings.minRatio * r.normal);
  const windows = hasBaseline ? sameMomentsReading(context.sameMoments, baseline, grewAlone) : undefined;
  /** Its share in the windows over the same moments, when they show no function grown and it under half its rise in the burst. */
  const unconfirmed = (r: (typeof ranked)[number]): number | undefined => {
    if (!windows || windows.anyGrew) return undefined;
    const there = windows.shareOf(r.unit);
    return there - r.normal < r.excess / 2 ? there : undefined;
  };
  const grown = ranked.filter(grewAlone).map((r) => ({ ...r, inWindows: unconfirmed(r) }));
  const chosen: Array<(typeof ranked)[number]> = grown.filter((r) => !r.moved && r.inWindows === undefined).slice(0, settings.maxCulprits);
  const moved = grown.find((r) => r.moved || r.inWindows !== undefined);

  let verdict: Verdict;
  let reason: string;
  if (chosen.length > 0 && hasBaseline) {
    verdict = "incident";
    reason = "Functions took a far larger share of CPU than normal.";
  } else if (chosen.length > 0 && (chosen[0]?.share ?? 0) >= settings.dominantShare) {
    verdict = "incident";
    reason = `No baseline yet (${baseline.windows} normal window(s)): one function dominated the spike, ranked by share alone.`;
  } else if (chosen.length > 0 && !context.loopBlocked) {
    verdict = "ordinary";
    reason = `No baseline yet (${baseline.windows} normal window(s)) and no function dominated: the shape cannot be judged.`;
    chosen.length = 0;
  } else if (context.loopBlocked) {
    verdict = "incident";
    reason = "The event loop was blocked, though no function's share changed much: the usual work, but synchronous for too long.";
    // Replaces, not appends: without a baseline, functions already chosen would be listed twice.
    chosen.splice(0, chosen.length, ...ranked.filter((r) => r.share >= settings.minShare / 3).slice(0, settings.maxCulprits));
  } else if (moved?.inWindows !== undefined) {
    verdict = "ordinary";
    reason =
      `Same work as normal, charged differently: the spike's profile gave ${displayName(moved.unit.frame)} ${pct(moved.share)} of CPU in its own code (${pct(moved.normal)} normally), ` +
      `the rolling windows over the same moments ${pct(moved.inWindows)}, and no function took a far larger share of them than normal. ` +
      `(Seismo's reading: the spike's profiler, started after V8 had optimized the code, lacks what V8 inlined where, and charges a caller with its callees; the windows' profiler has it.)`;
  } else if (moved?.moved) {
    verdict = "ordinary";
    const shares = moved.moved;
    reason =
      `Same work as normal, charged differently: ${displayName(moved.unit.frame)} took ${pct(moved.share)} of CPU in its own code (${pct(moved.normal)} normally), ` +
      `but ${pct(shares.total)} with the functions it calls, ${pct(shares.normalTotal)} normally: their time was charged to it, not new work. ` +
      `(Seismo's reading of the shares: V8 charges a caller for what it inlined into code compiled before the spike's profile began.)`;
  } else {
    verdict = "ordinary";
    const top = ranked[0];
    reason = top
      ? `Same profile shape as normal: the largest change is ${displayName(top.unit.frame)} at ${pct(top.share)} of CPU, ${pct(top.normal)} normally (more of the usual work, e.g. traffic).`
      : "The burst profile holds no CPU time.";
  }

  const culprits = chosen.map((r) => toCulprit(r.unit, r.share, r.normal, nodes, frameOf));
  return {
    verdict,
    reason,
    culprits,
    topStacks: topStacks(nodeUs, nodeSamples, nodes, frameOf, cpuUs),
    cpuMs: cpuUs / 1_000,
    gcShare: cpuUs + gcUs > 0 ? gcUs / (cpuUs + gcUs) : 0,
    samples: burst.samples.length,
    baselineWindows: baseline.windows,
  };
}

function pct(share: number): string {
  return `${(share * 100).toFixed(share < 0.01 ? 2 : 1)} %`;
}

/** A unit's normal share: its function's baseline self share, split by the baseline's hot lines when the unit is one line of it. */
/** A baseline's functions by function key, the same function from several windows or processes summed (self time and hot lines). */
function functionsByKey(baseline: Baseline): Map<string, BaselineFunction> {
  const byKey = new Map<string, BaselineFunction>();
  for (const f of baseline.functions) {
    const key = functionKey(f.scriptUrl, f.name, f.line);
    const known = byKey.get(key);
    if (known) {
      known.selfUs += f.selfUs;
      known.hotLines = known.hotLines.concat(f.hotLines);
    } else byKey.set(key, { ...f, hotLines: [...f.hotLines] });
  }
  return byKey;
}

function baselineShares(baseline: Baseline): (unit: Unit) => number {
  const byKey = functionsByKey(baseline);
  return (unit) => {
    const f = byKey.get(functionKey(unit.frame.scriptUrl, displayName(unit.frame), unit.frame.line));
    if (!f || baseline.cpuUs <= 0) return 0;
    const share = f.selfUs / baseline.cpuUs;
    const total = f.hotLines.reduce((sum, [, samples]) => sum + samples, 0);
    if (total === 0) return share;
    const lineSamples = (line: number): number => f.hotLines.filter(([l]) => l === line).reduce((sum, [, s]) => sum + s, 0);
    if (unit.builtin !== undefined && unit.line !== undefined) return (share * lineSamples(unit.line)) / total;
    // The function's own part: its share less the lines that went to built-ins.
    const builtinLines = unit.frame.lineCalls.filter((c) => ownedBuiltins(c.builtins).length > 0).map((c) => c.line);
    const moved = builtinLines.reduce((sum, line) => sum + lineSamples(line), 0);
    return (share * (total - moved)) / total;
  };
}

/**
 * What the rolling windows over the burst's moments say, when they hold enough CPU: each unit's
 * share there (as a baseline share is read), and whether any function took a far larger share of
 * them than of the normal windows (`grewAlone`, the culprit test).
 */
function sameMomentsReading(
  sameMoments: Baseline | undefined,
  normal: Baseline,
  grewAlone: (r: { share: number; normal: number; excess: number }) => boolean,
): { shareOf: (unit: Unit) => number; anyGrew: boolean } | undefined {
  if (!sameMoments || sameMoments.cpuUs < MIN_SAME_MOMENTS_CPU_US || normal.cpuUs <= 0) return undefined;
  const usual = functionsByKey(normal);
  const anyGrew = [...functionsByKey(sameMoments)].some(([key, f]) => {
    const share = f.selfUs / sameMoments.cpuUs;
    const usualShare = (usual.get(key)?.selfUs ?? 0) / normal.cpuUs;
    return grewAlone({ share, normal: usualShare, excess: share - usualShare });
  });
  return { shareOf: baselineShares(sameMoments), anyGrew };
}

/** A function's normal share with everything it called, by function key; undefined where the baseline has no inclusive time for it. */
function baselineTotals(baseline: Baseline): (key: string) => number | undefined {
  const byKey = new Map<string, number>();
  for (const f of baseline.functions) {
    if (f.totalUs === undefined) continue;
    const key = functionKey(f.scriptUrl, f.name, f.line);
    byKey.set(key, (byKey.get(key) ?? 0) + f.totalUs);
  }
  return (key) => {
    const us = byKey.get(key);
    return us === undefined || baseline.cpuUs <= 0 ? undefined : us / baseline.cpuUs;
  };
}

/** Each function's time in the burst with everything it called: a sample counts once per function on its stack, however deep a recursion repeats it. */
function inclusiveUs(nodeUs: Map<number, number>, nodes: Map<number, ProfileNode>, frameOf: (node: ProfileNode) => ProfileFrame): Map<string, number> {
  const totals = new Map<string, number>();
  for (const [id, us] of nodeUs) {
    const leaf = nodes.get(id);
    if (!leaf) continue;
    const leafName = frameOf(leaf).functionName;
    if (leafName === IDLE || leafName === GC || leafName === ROOT) continue;
    const seen = new Set<string>();
    for (const node of chainOf(leaf, nodes)) {
      const frame = frameOf(node);
      const key = functionKey(frame.scriptUrl, displayName(frame), frame.line);
      if (seen.has(key)) continue;
      seen.add(key);
      totals.set(key, (totals.get(key) ?? 0) + us);
    }
  }
  return totals;
}

function chainOf(node: ProfileNode, nodes: Map<number, ProfileNode>): ProfileNode[] {
  const chain: ProfileNode[] = [];
  for (let at: ProfileNode | undefined = node; at; at = at.parentId ? nodes.get(at.parentId) : undefined) chain.push(at);
  return chain.reverse();
}

function toCulprit(
  unit: Unit,
  share: number,
  baselineShare: number,
  nodes: Map<number, ProfileNode>,
  frameOf: (node: ProfileNode) => ProfileFrame,
): Culprit {
  const frame = unit.frame;
  const node = unit.heaviest?.node;
  const chain = node ? chainOf(node, nodes).filter((n) => frameOf(n).functionName !== ROOT) : [];
  const hotLine = unit.line ?? hottestLine(unit, nodes, frameOf) ?? null;

  // From the culprit up to the first frame in app code; the culprit's own frame gives its hot line.
  let appFrame: SourceLocation | null = null;
  for (let i = chain.length - 1; i >= 0; i--) {
    const f = frameOf(chain[i] as ProfileNode);
    if (!isAppFrame(f)) continue;
    const own = i === chain.length - 1;
    appFrame = { name: displayName(f), file: f.filePath, line: own && hotLine !== null ? hotLine : f.line || null };
    break;
  }
  const callers = chain.map((n) => location(frameOf(n)));
  const elided = callers.length > MAX_CHAIN ? callers.slice(callers.length - MAX_CHAIN) : callers;

  const regex = frame.lineCalls.find((c) => c.line === hotLine)?.builtins.find((b) => b.startsWith("RegExp#"));
  const base = location(frame);
  const culprit: Culprit = unit.builtin
    ? { name: unit.builtin, file: null, line: null, package: null, packageVersion: null, builtin: true, share, baselineShare, hotLine, appFrame, callers: elided, note: null, samples: unit.samples }
    : { ...base, builtin: false, share, baselineShare, hotLine, appFrame, callers: elided, note: null, samples: unit.samples };
  if (unit.builtin) culprit.note = `Time inside the built-in ${unit.builtin}, called by ${displayName(frame)} on line ${unit.line}.`;
  else if (regex) culprit.note = `Time in a regular expression (${regex}) on line ${hotLine}.`;
  else if (unit.samples > 0 && unit.uncertainSamples / unit.samples >= UNCERTAIN_NOTE_SHARE) {
    // Seismo's inference could not split this time: said so, never presented as the function's own.
    const share = Math.round((100 * unit.uncertainSamples) / unit.samples);
    const what = unit.candidates.size > 0 ? `inlined code of ${[...unit.candidates].join(" or ")}` : "inlined code of another script";
    culprit.note = `Uncertain: ${share} % of this time may be ${what} (V8 charged it here; its lines cannot tell).`;
  }
  return culprit;
}

function hottestLine(unit: Unit, nodes: Map<number, ProfileNode>, frameOf: (node: ProfileNode) => ProfileFrame): number | undefined {
  const lines = new Map<number, number>();
  for (const node of nodes.values()) {
    if (frameOf(node) !== unit.frame) continue;
    for (const tick of node.positionTicks) lines.set(tick.line, (lines.get(tick.line) ?? 0) + tick.samples);
  }
  let best: [number, number] | undefined;
  for (const entry of lines) if (!best || entry[1] > best[1]) best = entry;
  return best?.[0];
}

function topStacks(
  nodeUs: Map<number, number>,
  nodeSamples: Map<number, number>,
  nodes: Map<number, ProfileNode>,
  frameOf: (node: ProfileNode) => ProfileFrame,
  cpuUs: number,
  limit = 5,
): StackSummary[] {
  return [...nodeUs]
    .filter(([id]) => {
      const name = nodes.get(id) && frameOf(nodes.get(id) as ProfileNode).functionName;
      return name !== IDLE && name !== GC && name !== ROOT;
    })
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([id, us]) => ({
      frames: chainOf(nodes.get(id) as ProfileNode, nodes)
        .filter((n) => frameOf(n).functionName !== ROOT)
        .slice(-MAX_CHAIN)
        .map((n) => location(frameOf(n))),
      share: cpuUs > 0 ? us / cpuUs : 0,
      samples: nodeSamples.get(id) ?? 0,
    }));
}
