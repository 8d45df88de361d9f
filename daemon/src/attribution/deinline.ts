import type { CallFrame, CpuProfile, PositionTick, ProfileNode } from "../sampler/cpu-profile.js";
import type { FunctionTable, ScriptFunction } from "./function-table.js";
import { AMBIGUOUS, TOP_LEVEL } from "./function-table.js";
import { apportionLines, integerShares } from "./apportion.js";
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
 * So each line gets its candidates: the function of the caller's script that
 * owns it (the caller's own code, or a callee), and the functions of other
 * scripts that the caller was seen calling (ObservedCalls, transitively) and
 * that cover the line. A same-script function the caller neither calls by name
 * nor was seen calling is not a candidate when another script's is. A line
 * with one candidate is exact. Lines with several are split by how each
 * candidate spends its time where V8 shows it un-inlined (apportion.ts), an
 * estimate; what even that cannot split stays on the node, counted in
 * `uncertainSamples` with its candidates, so no surface presents a guess as a
 * fact.
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
/**
 * TurboFan inlines a call site only while its feedback holds at most this many targets
 * (kMaxCallPolymorphism in V8's js-inlining-heuristic.h); past it the site is megamorphic and
 * calls out.
 */
const MAX_CALL_POLYMORPHISM = 4;

/**
 * The observed callees of `caller` that V8 may have inlined into it: those it calls by name, and
 * those it calls through a value (`fn(req, res, next)`, a router's middleware) while there are
 * few of them. A dispatcher seen calling a dozen middlewares calls them through a megamorphic
 * site, which TurboFan does not inline, so their lines are not candidates for its ticks (on an
 * Express app they made every router frame "uncertain").
 */
function inlinableCallees(caller: string, callees: ReadonlySet<string>, tableOf: (url: string) => FunctionTable | undefined, observed: ObservedCalls): string[] {
  const callerFrame = observed.frame(caller);
  const calls = callerFrame ? tableOf(callerFrame.url)?.functionAt(callerFrame.lineNumber, callerFrame.columnNumber)?.calls : undefined;
  const byName: string[] = [];
  const byValue: string[] = [];
  for (const callee of callees) {
    const name = observed.frame(callee)?.functionName ?? "";
    (calls?.has(name.slice(name.lastIndexOf(".") + 1)) ? byName : byValue).push(callee);
  }
  return byValue.length > MAX_CALL_POLYMORPHISM ? byName : [...byName, ...byValue];
}

/** What a line's ticks may be: the node's own code (no path), or a function reached through `path`. */
interface Candidate {
  key: string;
  /** The calls from the node to the function; empty for the node's own code. */
  path: CallFrame[];
  /** Share of the function's own ticks on this line where V8 showed it (ObservedCalls.lineShare). */
  lineShare?: number;
}

const SELF = "\u0000self";

interface Bucket {
  path: CallFrame[];
  ticks: PositionTick[];
  tickCount: number;
}

interface Split {
  own: PositionTick[];
  uncertain: PositionTick[];
  candidates: Map<string, CallFrame>;
  buckets: Map<string, Bucket>;
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
  const splits = new Map<number, Split>();

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
    const candidatesOf = lineCandidates(frame, own, table, tableOf, observed);
    const lines = node.positionTicks.map((tick) => ({ line: tick.line, ticks: tick.ticks, candidates: candidatesOf(tick.line) }));
    const byKey = new Map<string, Candidate>();
    for (const line of lines) for (const candidate of line.candidates) byKey.set(candidate.key, candidate);
    const split: Split = { own: [], uncertain: [], candidates: new Map(), buckets: new Map() };
    for (const allocation of apportionLines(lines)) {
      for (const [key, ticks] of allocation.given) {
        if (ticks <= 0) continue;
        const tick = { line: allocation.line, ticks };
        if (key === SELF) {
          split.own.push(tick);
          continue;
        }
        const path = (byKey.get(key) as Candidate).path;
        let bucket = split.buckets.get(key);
        if (!bucket) split.buckets.set(key, (bucket = { path, ticks: [], tickCount: 0 }));
        bucket.ticks.push(tick);
        bucket.tickCount += ticks;
      }
      if (allocation.uncertain > 0) {
        split.uncertain.push({ line: allocation.line, ticks: allocation.uncertain });
        for (const key of allocation.uncertainKeys) {
          const target = byKey.get(key)?.path.at(-1);
          if (target) split.candidates.set(key, target);
        }
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
    node.positionTicks = mergeTicks(split.own, split.uncertain);

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

/** For one node, what each of its tick lines may be (see the rules at the top of this file). */
function lineCandidates(
  frame: CallFrame,
  own: ScriptFunction | undefined,
  table: FunctionTable,
  tableOf: (url: string) => FunctionTable | undefined,
  observed: ObservedCalls,
): (line: number) => Candidate[] {
  const ownIndex = own?.index ?? TOP_LEVEL;
  const ownKey = frameKey(frame);
  const keyOf = (fn: ScriptFunction, url: string): string => frameKey({ url, lineNumber: fn.line, columnNumber: fn.column });
  const frameOf = (fn: ScriptFunction, url: string): CallFrame =>
    observed.frame(keyOf(fn, url)) ?? {
      functionName: fn.name,
      url,
      scriptId: (url === frame.url ? frame.scriptId : observed.scriptIdOf(url)) ?? "",
      lineNumber: fn.line,
      columnNumber: fn.column,
    };
  const candidate = (fn: ScriptFunction, url: string, path: CallFrame[], line: number): Candidate => {
    const key = keyOf(fn, url);
    const share = observed.lineShare(key, line, fn.startLine, fn.endLine);
    return share === undefined ? { key, path } : { key, path, lineShare: share };
  };

  let reach: Map<string, string[]> | undefined;
  const reachable = (): Map<string, string[]> => (reach ??= observed.reachable(ownKey, MAX_PATH, (caller, callees) => inlinableCallees(caller, callees, tableOf, observed)));
  const framesOfPath = (path: string[]): CallFrame[] => path.map((key) => observed.frame(key)).filter((f): f is CallFrame => f !== undefined);

  let byScript: Map<string, Array<[string, string[]]>> | undefined;
  const reachedScripts = (): Map<string, Array<[string, string[]]>> => {
    if (byScript) return byScript;
    byScript = new Map();
    for (const entry of reachable()) {
      const calleeFrame = observed.frame(entry[0]);
      if (!calleeFrame || calleeFrame.url === frame.url) continue;
      const list = byScript.get(calleeFrame.url) ?? [];
      list.push(entry);
      byScript.set(calleeFrame.url, list);
    }
    return byScript;
  };

  /** Functions of other scripts, reached through observed calls, that cover the line. */
  const crossCandidates = (line: number): Candidate[] => {
    const found: Candidate[] = [];
    for (const [url, entries] of reachedScripts()) {
      const other = tableOf(url);
      if (!other) continue;
      const owner = other.ownerOfLine(line);
      if (owner < 0) continue;
      const fn = other.functions[owner] as ScriptFunction;
      const key = keyOf(fn, url);
      const direct = entries.find(([reached]) => reached === key);
      if (direct) {
        found.push(candidate(fn, url, framesOfPath(direct[1]), line));
        continue;
      }
      // Not seen itself, but nested in or called by name from a function that was.
      const via = entries.find(([reached]) => {
        const r = observed.frame(reached);
        const reachedFn = r ? other.functionAt(r.lineNumber, r.columnNumber) : undefined;
        return reachedFn !== undefined && (other.within(owner, reachedFn.index) || (fn.name !== "" && reachedFn.calls.has(fn.name)));
      });
      if (via) found.push(candidate(fn, url, [...framesOfPath(via[1]), frameOf(fn, url)], line));
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

  const sameScript = (target: number, line: number): Candidate => {
    const fn = table.functions[target] as ScriptFunction;
    const observedPath = reachable().get(keyOf(fn, frame.url));
    const path = observedPath ? framesOfPath(observedPath) : (staticPath(target) ?? [target]).map((index) => frameOf(table.functions[index] as ScriptFunction, frame.url));
    return candidate(fn, frame.url, path, line);
  };
  const self: Candidate = { key: SELF, path: [] };
  /** A function of the node's script it calls (statically, by name), was seen calling, or nests. */
  const reachableInScript = (index: number): boolean =>
    table.within(index, ownIndex) || reachable().has(keyOf(table.functions[index] as ScriptFunction, frame.url)) || staticPath(index) !== undefined;

  /** The script a candidate's line is in: the node's own, or its function's. */
  const trivialFor = (c: Candidate, line: number): boolean => {
    const target = c.path.at(-1);
    const url = target ? target.url : frame.url;
    return (url === frame.url ? table : tableOf(url))?.trivialLine(line) ?? false;
  };
  /**
   * Drops candidates whose observed line shares rule the line out, then those whose own script
   * has no code on that line (only `});`), unless that would leave none.
   */
  const plausible = (line: number, candidates: Candidate[]): Candidate[] => {
    if (candidates.length < 2) return candidates;
    const sampled = candidates.filter((c) => c.lineShare === undefined || c.lineShare > 0);
    const kept = sampled.length > 0 ? sampled : candidates;
    if (kept.length < 2) return kept;
    const coded = kept.filter((c) => !trivialFor(c, line));
    return coded.length > 0 ? coded : kept;
  };

  const decisions = new Map<number, Candidate[]>();
  return (line) => {
    let known = decisions.get(line);
    if (!known) decisions.set(line, (known = plausible(line, candidatesOn(line))));
    return known;
  };

  function candidatesOn(line: number): Candidate[] {
    const owner = table.ownerOfLine(line);
    const cross = crossCandidates(line);
    if (owner === ownIndex) return [self, ...cross];
    if (owner === AMBIGUOUS) {
      // Functions side by side on the line (a minified bundle puts all of them on one): the node's
      // own code when it covers the line, and those of them it calls, by name or as V8 showed.
      const covering = table.functionsOnLine(line);
      const callees = covering.filter((index) => index !== ownIndex && !table.within(ownIndex, index) && reachableInScript(index));
      return [...(covering.includes(ownIndex) ? [self] : []), ...callees.map((index) => sameScript(index, line)), ...cross];
    }
    if (owner === TOP_LEVEL) return cross;
    const fn = table.functions[owner] as ScriptFunction;
    if (table.sharedLine(line)) {
      // The line holds the nested function's header or closing brace, and its parent's code.
      const parent = fn.parent === ownIndex ? self : sameScript(fn.parent, line);
      return [sameScript(owner, line), parent, ...cross];
    }
    if (cross.length === 0) return [sameScript(owner, line)];
    const sameReachable = reachableInScript(owner);
    return sameReachable ? [sameScript(owner, line), ...cross] : cross;
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

/** Integer shares of `total` in proportion to `parts` out of `whole` (the rest of `whole` gets none), by largest remainder. */
function shares(parts: number[], whole: number, total: number): number[] {
  if (whole <= 0) return parts.map(() => 0);
  const rest = Math.max(0, whole - parts.reduce((a, b) => a + b, 0));
  return integerShares([...parts, rest], total).slice(0, parts.length);
}
