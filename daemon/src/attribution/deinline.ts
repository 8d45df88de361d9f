import type { CallFrame, CpuProfile, PositionTick, ProfileNode } from "../sampler/cpu-profile.js";
import type { FunctionTable, ScriptFunction } from "./function-table.js";
import { AMBIGUOUS, TOP_LEVEL } from "./function-table.js";
import type { ObservedCalls } from "./observed-calls.js";
import { frameKey, isScriptFrame } from "./observed-calls.js";

/**
 * Gives inlined functions their own time back. Pure (the scripts' tables and
 * what earlier profiles showed come in).
 *
 * V8's symbolizer pushes the sampled pc's code entry without its inline stack
 * (deps/v8/src/profiler/symbolizer.cc): a tick inside code TurboFan inlined
 * into `handler` is charged to `handler`'s node, but the node's positionTicks
 * keep the line of the inlined function's source position. So a node's tick
 * lines that lie in another function are that function's self time, and this
 * moves them to a child node for it (a call V8 did not show, marked
 * `synthetic`), keeping total time and call chains right.
 *
 * The line has no script: for code inlined from another script it is that
 * script's line, and it may fall in an unrelated function of the caller's own.
 * Same-script lines are exact unless an observed callee in another script
 * (ObservedCalls) also covers the line. A line that fits one function of
 * another script reached through observed calls goes to it. Anything else
 * stays on the node, counted in `uncertainSamples` with its candidates, so no
 * surface presents a guess as a fact.
 */
export interface DeinlineSources {
  /** The function table of a script URL; undefined when its source cannot be read or parsed. */
  tableOf(url: string): FunctionTable | undefined;
}

export interface DeinlineStats {
  /** Nodes whose ticks were split. */
  nodesSplit: number;
  movedSamples: number;
  uncertainSamples: number;
  /** Script URLs with ticks whose table was unavailable (unreadable, not JavaScript, over the budget). */
  scriptsUnavailable: number;
  /** Frames the table had no function for (the file on disk differs from what the process loaded). */
  framesUnmatched: number;
}

export interface DeinlineResult {
  profile: CpuProfile;
  stats: DeinlineStats;
}

/** Inlining nests at most this deep in what Seismo looks for (TurboFan's own limit is higher, but rare past 3). */
const MAX_PATH = 4;

type Decision = { kind: "self" } | { kind: "move"; path: CallFrame[] } | { kind: "uncertain"; candidates: CallFrame[] };

interface Bucket {
  path: CallFrame[];
  ticks: PositionTick[];
  tickCount: number;
}

export function deinlineProfile(profile: CpuProfile, sources: DeinlineSources, observed: ObservedCalls): DeinlineResult {
  const stats: DeinlineStats = { nodesSplit: 0, movedSamples: 0, uncertainSamples: 0, scriptsUnavailable: 0, framesUnmatched: 0 };
  const unavailable = new Set<string>();
  const tableOf = (url: string): FunctionTable | undefined => {
    const table = sources.tableOf(url);
    if (!table && !unavailable.has(url)) {
      unavailable.add(url);
      stats.scriptsUnavailable++;
    }
    return table;
  };

  const nodes: ProfileNode[] = profile.nodes.map((node) => ({ ...node, ...(node.children ? { children: [...node.children] } : {}) }));
  const byId = new Map(nodes.map((node) => [node.id, node]));
  let nextId = nodes.reduce((max, node) => Math.max(max, node.id), 0) + 1;
  const splits = new Map<number, { own: PositionTick[]; uncertain: PositionTick[]; candidates: Map<string, CallFrame>; buckets: Map<string, Bucket> }>();

  for (const node of nodes) {
    const frame = node.callFrame;
    if (!node.positionTicks?.length || !isScriptFrame(frame)) continue;
    const table = tableOf(frame.url);
    if (!table) continue;
    const own = isTopLevel(frame) ? undefined : table.functionAt(frame.lineNumber, frame.columnNumber);
    if (!isTopLevel(frame) && !own) {
      stats.framesUnmatched++;
      continue;
    }
    const decide = decider(frame, own, table, tableOf, observed);
    const split = { own: [] as PositionTick[], uncertain: [] as PositionTick[], candidates: new Map<string, CallFrame>(), buckets: new Map<string, Bucket>() };
    for (const tick of node.positionTicks) {
      const decision = decide(tick.line);
      if (decision.kind === "self") split.own.push(tick);
      else if (decision.kind === "uncertain") {
        split.uncertain.push(tick);
        for (const candidate of decision.candidates) split.candidates.set(frameKey(candidate), candidate);
      } else {
        const key = decision.path.map(frameKey).join("\u0001");
        let bucket = split.buckets.get(key);
        if (!bucket) split.buckets.set(key, (bucket = { path: decision.path, ticks: [], tickCount: 0 }));
        bucket.ticks.push(tick);
        bucket.tickCount += tick.ticks;
      }
    }
    if (split.buckets.size > 0 || split.uncertain.length > 0) splits.set(node.id, split);
  }
  if (splits.size === 0) return { profile, stats };

  const samples = [...(profile.samples ?? [])];
  const occurrences = new Map<number, number[]>();
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i] as number;
    if (!splits.has(id)) continue;
    let list = occurrences.get(id);
    if (!list) occurrences.set(id, (list = []));
    list.push(i);
  }

  for (const [id, split] of splits) {
    const node = byId.get(id) as ProfileNode;
    const positions = occurrences.get(id) ?? [];
    const hits = positions.length;
    const buckets = [...split.buckets.values()];
    const tickTotal = (node.positionTicks ?? []).reduce((sum, tick) => sum + tick.ticks, 0);
    // Ticks with a line are (nearly) all of a node's samples; scale in case some had none.
    const movedCounts = shares(buckets.map((b) => b.tickCount), tickTotal, hits);
    const uncertainTicks = split.uncertain.reduce((sum, tick) => sum + tick.ticks, 0);
    const uncertainSamples = tickTotal > 0 ? Math.round((uncertainTicks * hits) / tickTotal) : 0;

    const targets = buckets.map((bucket) => {
      let at = node;
      for (const step of bucket.path) at = childFor(at, step, byId, nodes, () => nextId++);
      at.positionTicks = mergeTicks(at.positionTicks ?? [], bucket.ticks);
      return at;
    });
    node.positionTicks = [...split.own, ...split.uncertain];

    // Spread the moved samples evenly over the node's own sample times (V8 does not say which sample had which line).
    const counts = [hits - movedCounts.reduce((a, b) => a + b, 0), ...movedCounts];
    const owners = [node, ...targets];
    const credit = counts.map(() => 0);
    for (const position of positions) {
      let best = 0;
      for (let b = 0; b < counts.length; b++) {
        credit[b] = (credit[b] as number) + (counts[b] as number);
        if ((credit[b] as number) > (credit[best] as number)) best = b;
      }
      credit[best] = (credit[best] as number) - hits;
      samples[position] = (owners[best] as ProfileNode).id;
    }
    owners.forEach((owner, b) => {
      if (b === 0) return;
      const moved = counts[b] as number;
      const attribution = owner.attribution ?? { synthetic: false, inlinedSamples: 0, uncertainSamples: 0, candidates: [] };
      attribution.inlinedSamples += moved;
      owner.attribution = attribution;
      owner.hitCount = (owner.hitCount ?? 0) + moved;
      stats.movedSamples += moved;
    });
    node.hitCount = counts[0];
    if (uncertainSamples > 0) {
      const attribution = node.attribution ?? { synthetic: false, inlinedSamples: 0, uncertainSamples: 0, candidates: [] };
      attribution.uncertainSamples += uncertainSamples;
      attribution.candidates = [...split.candidates.values()];
      node.attribution = attribution;
      stats.uncertainSamples += uncertainSamples;
    }
    stats.nodesSplit++;
  }

  return { profile: { ...profile, nodes, samples }, stats };
}

function isTopLevel(frame: CallFrame): boolean {
  return frame.url !== "" && frame.functionName === "" && frame.lineNumber === 0 && frame.columnNumber === 0;
}

/** Decides, per tick line of one node, whose code the line is. */
function decider(
  frame: CallFrame,
  own: ScriptFunction | undefined,
  table: FunctionTable,
  tableOf: (url: string) => FunctionTable | undefined,
  observed: ObservedCalls,
): (line: number) => Decision {
  const ownIndex = own?.index ?? TOP_LEVEL;
  const ownKey = frameKey(frame);
  const frameOf = (fn: ScriptFunction, url: string): CallFrame => {
    const key = frameKey({ url, lineNumber: fn.line, columnNumber: fn.column });
    return (
      observed.frame(key) ?? {
        functionName: fn.name,
        url,
        scriptId: (url === frame.url ? frame.scriptId : observed.scriptIdOf(url)) ?? "",
        lineNumber: fn.line,
        columnNumber: fn.column,
      }
    );
  };
  const keyOf = (fn: ScriptFunction, url: string): string => frameKey({ url, lineNumber: fn.line, columnNumber: fn.column });

  let reach: Map<string, string[]> | undefined;
  const reachable = (): Map<string, string[]> => (reach ??= observed.reachable(ownKey, MAX_PATH));
  const framesOfPath = (path: string[]): CallFrame[] => path.map((key) => observed.frame(key)).filter((f): f is CallFrame => f !== undefined);

  /** Functions of other scripts, reached through observed calls, that cover the line. */
  const crossCandidates = (line: number): Array<{ frame: CallFrame; path: CallFrame[] }> => {
    const found: Array<{ frame: CallFrame; path: CallFrame[] }> = [];
    const byScript = new Map<string, Array<[string, string[]]>>();
    for (const entry of reachable()) {
      const calleeFrame = observed.frame(entry[0]);
      if (!calleeFrame || calleeFrame.url === frame.url) continue;
      const list = byScript.get(calleeFrame.url) ?? [];
      list.push(entry);
      byScript.set(calleeFrame.url, list);
    }
    for (const [url, entries] of byScript) {
      const other = tableOf(url);
      if (!other) continue;
      const owner = other.ownerOfLine(line);
      if (owner < 0) continue;
      const fn = other.functions[owner] as ScriptFunction;
      const key = keyOf(fn, url);
      const direct = entries.find(([reached]) => reached === key);
      if (direct) {
        found.push({ frame: frameOf(fn, url), path: framesOfPath(direct[1]) });
        continue;
      }
      // Not seen itself, but nested in or called by name from a function that was.
      const via = entries.find(([reached]) => {
        const r = observed.frame(reached);
        const reachedFn = r ? other.functionAt(r.lineNumber, r.columnNumber) : undefined;
        return reachedFn !== undefined && (other.within(owner, reachedFn.index) || (fn.name !== "" && reachedFn.calls.has(fn.name)));
      });
      if (via) found.push({ frame: frameOf(fn, url), path: [...framesOfPath(via[1]), frameOf(fn, url)] });
    }
    return found;
  };

  /** A path of static calls by name inside this script, from the node's function to `target`, or undefined. */
  const staticPath = (target: number): number[] | undefined => {
    if (!own) return undefined;
    const previous = new Map<number, number>([[ownIndex, -1]]);
    let layer = [ownIndex];
    for (let level = 0; level < MAX_PATH && layer.length > 0; level++) {
      const next: number[] = [];
      for (const at of layer) {
        for (const name of (table.functions[at] as ScriptFunction).calls) {
          for (const callee of table.named(name)) {
            if (previous.has(callee.index)) continue;
            previous.set(callee.index, at);
            if (callee.index === target) {
              const path = [target];
              for (let step = at; step !== ownIndex; step = previous.get(step) as number) path.unshift(step);
              return path;
            }
            next.push(callee.index);
          }
        }
      }
      layer = next;
    }
    return undefined;
  };

  const sameScriptPath = (target: number): CallFrame[] => {
    const fn = table.functions[target] as ScriptFunction;
    const observedPath = reachable().get(keyOf(fn, frame.url));
    if (observedPath) return framesOfPath(observedPath);
    const found = staticPath(target);
    return (found ?? [target]).map((index) => frameOf(table.functions[index] as ScriptFunction, frame.url));
  };

  const decisions = new Map<number, Decision>();
  return (line) => {
    const known = decisions.get(line);
    if (known) return known;
    const decision = decideLine(line);
    decisions.set(line, decision);
    return decision;
  };

  function decideLine(line: number): Decision {
    const owner = table.ownerOfLine(line);
    const cross = crossCandidates(line);
    const crossFrames = cross.map((c) => c.frame);
    if (owner === ownIndex) return cross.length > 0 ? { kind: "uncertain", candidates: crossFrames } : { kind: "self" };
    if (owner === AMBIGUOUS) {
      const deepest = table.deepestOnLine(line).filter((index) => index !== ownIndex);
      return { kind: "uncertain", candidates: [...deepest.map((index) => frameOf(table.functions[index] as ScriptFunction, frame.url)), ...crossFrames] };
    }
    if (owner === TOP_LEVEL) {
      if (cross.length === 1) return { kind: "move", path: (cross[0] as { path: CallFrame[] }).path };
      return { kind: "uncertain", candidates: crossFrames };
    }
    const fn = table.functions[owner] as ScriptFunction;
    if (table.sharedLine(line)) {
      // The line holds the nested function's header or closing brace and its parent's code.
      const parent = fn.parent === ownIndex ? [] : [frameOf(table.functions[fn.parent] as ScriptFunction, frame.url)];
      return { kind: "uncertain", candidates: [frameOf(fn, frame.url), ...parent, ...crossFrames] };
    }
    if (cross.length === 0) return { kind: "move", path: sameScriptPath(owner) };
    const sameReachable = reachable().has(keyOf(fn, frame.url)) || staticPath(owner) !== undefined || table.within(owner, ownIndex);
    if (!sameReachable && cross.length === 1) return { kind: "move", path: (cross[0] as { path: CallFrame[] }).path };
    return { kind: "uncertain", candidates: sameReachable ? [frameOf(fn, frame.url), ...crossFrames] : crossFrames };
  }
}

/** The child of `parent` for `frame`: an existing one (V8's, or added earlier), else a new synthetic node. */
function childFor(parent: ProfileNode, frame: CallFrame, byId: Map<number, ProfileNode>, nodes: ProfileNode[], newId: () => number): ProfileNode {
  const key = frameKey(frame);
  for (const childId of parent.children ?? []) {
    const child = byId.get(childId);
    if (child && frameKey(child.callFrame) === key) return child;
  }
  const child: ProfileNode = {
    id: newId(),
    callFrame: frame,
    hitCount: 0,
    children: [],
    positionTicks: [],
    attribution: { synthetic: true, inlinedSamples: 0, uncertainSamples: 0, candidates: [] },
  };
  nodes.push(child);
  byId.set(child.id, child);
  parent.children = [...(parent.children ?? []), child.id];
  return child;
}

function mergeTicks(into: PositionTick[], add: PositionTick[]): PositionTick[] {
  const lines = new Map(into.map((tick) => [tick.line, tick.ticks]));
  for (const tick of add) lines.set(tick.line, (lines.get(tick.line) ?? 0) + tick.ticks);
  return [...lines].map(([line, ticks]) => ({ line, ticks }));
}

/** Integer shares of `total` in proportion to `parts` out of `whole`, by largest remainder. */
function shares(parts: number[], whole: number, total: number): number[] {
  if (whole <= 0) return parts.map(() => 0);
  const exact = parts.map((part) => (part * total) / whole);
  const counts = exact.map(Math.floor);
  let left = Math.min(total, Math.round(exact.reduce((a, b) => a + b, 0))) - counts.reduce((a, b) => a + b, 0);
  const order = exact.map((value, i) => [value - Math.floor(value), i] as const).sort((a, b) => b[0] - a[0]);
  for (const [, i] of order) {
    if (left <= 0) break;
    counts[i] = (counts[i] as number) + 1;
    left--;
  }
  return counts;
}
