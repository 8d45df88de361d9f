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

/** A stored burst back into V8's own shape: same nodes, ids, samples and timeline. Pure. */
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
          functionName: frame?.functionName ?? "",
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
