import type { BurstProfile } from "@seismo/agent-proto";

/** The Chrome DevTools .cpuprofile format (Profiler.Profile), which DevTools and speedscope open. */
export interface ChromeCpuProfile {
  nodes: Array<{
    id: number;
    callFrame: { functionName: string; scriptId: string; url: string; lineNumber: number; columnNumber: number };
    hitCount: number;
    children: number[];
    positionTicks?: Array<{ line: number; ticks: number }>;
  }>;
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** What in an exported profile is Seismo's inference rather than V8's tree. */
export interface ExportedAttribution {
  /** Nodes Seismo added for functions V8 inlined into their callers (named "… [inlined]"). */
  inlinedNodes: number;
  /** Samples moved to them from the callers V8 charged them to. */
  inlinedSamples: number;
  /** Samples left on callers that may be inlined code Seismo could not place (named "… [+inlined?]"). */
  uncertainSamples: number;
}

/** Marks the name of a node Seismo added for an inlined function. */
export const INLINED_MARK = " [inlined]";
/** Marks the name of a node whose own time may include inlined code of other functions. */
export const UNCERTAIN_MARK = " [+inlined?]";

/** What of a burst is Seismo's inference (see ExportedAttribution). Pure. */
export function exportedAttribution(burst: BurstProfile): ExportedAttribution {
  let inlinedNodes = 0;
  let inlinedSamples = 0;
  let uncertainSamples = 0;
  for (const node of burst.nodes) {
    if (node.synthetic) inlinedNodes++;
    inlinedSamples += node.inlinedSamples;
    uncertainSamples += node.uncertainSamples;
  }
  return { inlinedNodes, inlinedSamples, uncertainSamples };
}

/**
 * A stored burst back into V8's own shape: same nodes, ids, samples and timeline. Pure. The tree
 * is the one Seismo stored, with inlined functions given their time back: a node V8 did not have
 * is named "… [inlined]", and one whose time may still include inlined code "… [+inlined?]", so
 * that a viewer (DevTools, speedscope, Pyroscope) shows what is inferred. Anonymous functions
 * keep the names Seismo gave them (`(anonymous) router.get('/x', …)`).
 */
export function toChromeCpuProfile(burst: BurstProfile): ChromeCpuProfile {
  const children = new Map<number, number[]>();
  for (const node of burst.nodes) {
    if (!node.parentId) continue;
    const list = children.get(node.parentId);
    if (list) list.push(node.id);
    else children.set(node.parentId, [node.id]);
  }
  const hits = new Map<number, number>();
  for (const id of burst.samples) hits.set(id, (hits.get(id) ?? 0) + 1);
  return {
    nodes: burst.nodes.map((node) => {
      const frame = burst.frames[node.frame];
      const out: ChromeCpuProfile["nodes"][number] = {
        id: node.id,
        callFrame: {
          functionName: `${frame?.functionName ?? ""}${node.synthetic ? INLINED_MARK : node.uncertainSamples > 0 ? UNCERTAIN_MARK : ""}`,
          scriptId: frame?.scriptId ?? "0",
          url: frame?.scriptUrl ?? "",
          // .cpuprofile positions are 0-based, -1 when unknown.
          lineNumber: frame && frame.line > 0 ? frame.line - 1 : -1,
          columnNumber: frame && frame.column > 0 ? frame.column - 1 : -1,
        },
        hitCount: hits.get(node.id) ?? 0,
        children: children.get(node.id) ?? [],
      };
      if (node.positionTicks.length) out.positionTicks = node.positionTicks.map((t) => ({ line: t.line, ticks: t.samples }));
      return out;
    }),
    startTime: burst.startTimeUs,
    endTime: burst.endTimeUs,
    samples: burst.samples,
    timeDeltas: burst.timeDeltas,
  };
}
