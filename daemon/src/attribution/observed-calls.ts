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

  constructor(private readonly maxFunctions = DEFAULT_MAX_FUNCTIONS) {}

  /** Learns from a profile as V8 gave it (before de-inlining, which would teach it its own guesses). */
  learn(profile: CpuProfile): void {
    const byId = new Map(profile.nodes.map((node) => [node.id, node]));
    for (const node of profile.nodes) {
      const caller = node.callFrame;
      if (!isScriptFrame(caller)) continue;
      const callerKey = this.remember(caller);
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

  /** Every function reachable from `key` through observed calls, at most `depth` calls away, with the path to it. */
  reachable(key: string, depth: number): Map<string, string[]> {
    const paths = new Map<string, string[]>([[key, []]]);
    let layer = [key];
    for (let level = 0; level < depth && layer.length > 0; level++) {
      const next: string[] = [];
      for (const at of layer) {
        for (const callee of this.calleesOf(at)) {
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

  private remember(frame: CallFrame): string {
    const key = frameKey(frame);
    if (!this.frames.has(key) && this.frames.size < this.maxFunctions * 2) this.frames.set(key, frame);
    if (!this.scriptIds.has(frame.url)) this.scriptIds.set(frame.url, frame.scriptId);
    return key;
  }
}

const EMPTY: ReadonlySet<string> = new Set();
