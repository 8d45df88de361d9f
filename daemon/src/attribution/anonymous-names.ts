import { anonymousName } from "@seismo/agent-proto";
import type { CallFrame, CpuProfile } from "../sampler/cpu-profile.js";
import type { FunctionTable, ScriptFunction } from "./function-table.js";

/** The name Seismo shows for a function of a script: V8's, or for an anonymous one where it sits. */
export function shownName(fn: ScriptFunction): string {
  return fn.name || anonymousName(fn.context);
}

/**
 * The profile with each anonymous function named by where it sits in its
 * source (`(anonymous) router.get('/reports', …)`), pure: V8 names none of
 * them, and a table of "(anonymous)" rows says nothing. Functions whose
 * source is not readable, or that sit nowhere worth saying, keep V8's empty
 * name. Runs after de-inlining, so that the functions it gave time back to
 * are named too.
 */
export function nameAnonymousFunctions(profile: CpuProfile, tableOf: (url: string) => FunctionTable | undefined): CpuProfile {
  let renamed = false;
  const named = (frame: CallFrame): CallFrame => {
    if (frame.functionName !== "" || frame.url === "" || (frame.lineNumber === 0 && frame.columnNumber === 0)) return frame;
    const context = tableOf(frame.url)?.functionAt(frame.lineNumber, frame.columnNumber)?.context;
    if (!context) return frame;
    renamed = true;
    return { ...frame, functionName: anonymousName(context) };
  };
  const nodes = profile.nodes.map((node) => {
    const callFrame = named(node.callFrame);
    // The functions a node's uncertain time may belong to are named the same way.
    const candidates = node.attribution?.candidates.map(named);
    if (callFrame === node.callFrame && candidates?.every((c, i) => c === node.attribution?.candidates[i]) !== false) return node;
    return { ...node, callFrame, ...(node.attribution && candidates ? { attribution: { ...node.attribution, candidates } } : {}) };
  });
  return renamed ? { ...profile, nodes } : profile;
}
