import type { CallFrame, CpuProfile } from "../sampler/cpu-profile.js";

/** A JavaScript function's identity across profiles: where V8 places it, not its per-process scriptId. */
export function frameKey(frame: Pick<CallFrame, "url" | "lineNumber" | "columnNumber">): string {
  return `${frame.url}\u0000${frame.lineNumber}\u0000${frame.columnNumber}`;
}

export function isScriptFrame(frame: CallFrame): boolean {
  return frame.url !== "" && frame.lineNumber >= 0 && !frame.functionName.startsWith("(");
}

const DEFAULT_MAX_FUNCTIONS = 20_000;
const MAX_CALLEES = 64;
const MAX_SIGNATURE_LINES = 256;
/** Fewer own ticks than this and a function's line shares say too little to rule a line out. */
export const MIN_SIGNATURE_TICKS = 20;

/**
 * The calls V8 has shown between script functions, learned from every profile
 * of one target: when a callee was not inlined (before TurboFan optimized its
 * caller, after the recompile on attach, after a deoptimization), the profile
 * has it as a real child. De-inlining uses this to tell which function of
 * another script a tick line can belong to. Bounded: past `maxFunctions`
 * callers nothing new is learned.
 */
export class ObservedCalls {
  private readonly callees = new Map<string, Set<string>>();
  private readonly frames = new Map<string, CallFrame>();
  private readonly scriptIds = new Map<string, string>();
  /** Ticks per line of each function's own nodes: how it spends its time where V8 shows it. */
  private readonly signatures = new Map<string, Map<number, number>>();
  private readonly totals = new Map<string, number>();

  constructor(private readonly maxFunctions = DEFAULT_MAX_FUNCTIONS) {}

  /** Learns from a profile as V8 gave it (before de-inlining, which would teach it its own guesses). */
  learn(profile: CpuProfile): void {
    const byId = new Map(profile.nodes.map((node) => [node.id, node]));
    for (const node of profile.nodes) {
      const caller = node.callFrame;
      if (!isScriptFrame(caller)) continue;
      const callerKey = this.remember(caller);
      this.learnLines(callerKey, node.positionTicks);
      for (const childId of node.children ?? []) {
        const child = byId.get(childId)?.callFrame;
        if (!child || !isScriptFrame(child)) continue;
        const childKey = this.remember(child);
        if (childKey === callerKey) continue;
        let set = this.callees.get(callerKey);
        if (!set) {
          if (this.callees.size >= this.maxFunctions) continue;
          this.callees.set(callerKey, (set = new Set()));
        }
        if (set.size < MAX_CALLEES) set.add(childKey);
      }
    }
  }

  /** The frame V8 gave this function, when it has been seen. */
  frame(key: string): CallFrame | undefined {
    return this.frames.get(key);
  }

  /** A scriptId V8 gave this script URL, when any of its functions has been seen. */
  scriptIdOf(url: string): string | undefined {
    return this.scriptIds.get(url);
  }

  calleesOf(key: string): ReadonlySet<string> {
    return this.callees.get(key) ?? EMPTY;
  }

  /**
   * Every function reachable from `key` through observed calls, at most `depth` calls away, with
   * the path to it; `follow` says which of a function's observed callees may be followed.
   */
  reachable(key: string, depth: number, follow: (caller: string, callees: ReadonlySet<string>) => Iterable<string> = (_caller, callees) => callees): Map<string, string[]> {
    const paths = new Map<string, string[]>([[key, []]]);
    let layer = [key];
    for (let level = 0; level < depth && layer.length > 0; level++) {
      const next: string[] = [];
      for (const at of layer) {
        for (const callee of follow(at, this.calleesOf(at))) {
          if (paths.has(callee)) continue;
          paths.set(callee, [...(paths.get(at) as string[]), callee]);
          next.push(callee);
        }
      }
      layer = next;
    }
    paths.delete(key);
    return paths;
  }

  /**
   * The share (0..1) of the function's own ticks, within lines first..last, that were on `line`
   * when V8 showed it; undefined with fewer than MIN_SIGNATURE_TICKS such ticks. The range keeps
   * out lines of code inlined into it, which V8 charges to its node too.
   */
  lineShare(key: string, line: number, first: number, last: number): number | undefined {
    const lines = this.signatures.get(key);
    if (!lines) return undefined;
    const totalKey = `${key}\u0000${first}\u0000${last}`;
    let total = this.totals.get(totalKey);
    if (total === undefined) {
      total = 0;
      for (const [at, ticks] of lines) if (at >= first && at <= last) total += ticks;
      this.totals.set(totalKey, total);
    }
    if (total < MIN_SIGNATURE_TICKS) return undefined;
    return line >= first && line <= last ? (lines.get(line) ?? 0) / total : 0;
  }

  private learnLines(key: string, ticks: ReadonlyArray<{ line: number; ticks: number }> | undefined): void {
    if (!ticks?.length) return;
    let lines = this.signatures.get(key);
    if (!lines) {
      if (this.signatures.size >= this.maxFunctions) return;
      this.signatures.set(key, (lines = new Map()));
    }
    for (const tick of ticks) {
      if (!lines.has(tick.line) && lines.size >= MAX_SIGNATURE_LINES) continue;
      lines.set(tick.line, (lines.get(tick.line) ?? 0) + tick.ticks);
    }
    this.totals.clear();
  }

  private remember(frame: CallFrame): string {
    const key = frameKey(frame);
    if (!this.frames.has(key) && this.frames.size < this.maxFunctions * 2) this.frames.set(key, frame);
    if (!this.scriptIds.has(frame.url)) this.scriptIds.set(frame.url, frame.scriptId);
    return key;
  }
}

const EMPTY: ReadonlySet<string> = new Set();
