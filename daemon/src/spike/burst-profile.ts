import type { BurstProfile, LineCalls, ProfileFrame, ProfileNode } from "@seismo/agent-proto";
import type { PackageVersionLookup } from "../sampler/aggregate.js";
import type { CallFrame, CpuProfile } from "../sampler/cpu-profile.js";
import { filePathOfScriptUrl, packageOfPath } from "../sampler/package-of.js";
import { builtinCallsOnLine } from "./builtin-calls.js";

/** Reads one 1-based line of a file as the target sees it; undefined when unreadable. Does I/O, so it is injected. */
export type SourceLineLookup = (filePath: string, line: number) => string | undefined;

export interface BurstProfileOptions {
  versionOf?: PackageVersionLookup;
  sourceLine?: SourceLineLookup;
  /** Lines looked at per function, and functions looked at, for built-in calls (the hottest first). */
  maxLinesPerFrame?: number;
  maxFramesRead?: number;
}

function frameKey(frame: CallFrame): string {
  return `${frame.scriptId}\u0000${frame.url}\u0000${frame.functionName}\u0000${frame.lineNumber}\u0000${frame.columnNumber}`;
}

/**
 * A V8 CPU profile as a BurstProfile: frames de-duplicated into a table, each
 * node pointing at its parent, the sample timeline kept whole (so the export is
 * a faithful .cpuprofile), frames tagged with their npm package, and the
 * built-in calls on each hot line named (see builtin-calls.ts). Pure.
 */
export function toBurstProfile(profile: CpuProfile, options: BurstProfileOptions = {}): BurstProfile {
  const frames: ProfileFrame[] = [];
  const frameIndex = new Map<string, number>();
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);

  const indexOf = (frame: CallFrame): number => {
    const key = frameKey(frame);
    let index = frameIndex.get(key);
    if (index === undefined) {
      index = frames.length;
      frameIndex.set(key, index);
      frames.push(toFrame(frame, options.versionOf));
    }
    return index;
  };
  const nodes: ProfileNode[] = profile.nodes.map((node) => {
    const attribution = node.attribution;
    return {
      id: node.id,
      parentId: parentOf.get(node.id) ?? 0,
      frame: indexOf(node.callFrame),
      positionTicks: (node.positionTicks ?? []).map((tick) => ({ line: tick.line, samples: tick.ticks })),
      synthetic: attribution?.synthetic ?? false,
      inlinedSamples: attribution?.inlinedSamples ?? 0,
      uncertainSamples: attribution?.uncertainSamples ?? 0,
      candidateFrames: attribution?.candidates.map(indexOf) ?? [],
    };
  });

  if (options.sourceLine) annotateBuiltinCalls(frames, nodes, options.sourceLine, options.maxLinesPerFrame ?? 5, options.maxFramesRead ?? 40);

  return {
    frames,
    nodes,
    samples: profile.samples ?? [],
    // V8 can report a slightly negative delta when its clock is adjusted; the wire type is unsigned.
    timeDeltas: (profile.timeDeltas ?? []).map((delta) => Math.max(0, Math.round(delta))),
    startTimeUs: Math.round(profile.startTime),
    endTimeUs: Math.round(profile.endTime),
  };
}

function toFrame(frame: CallFrame, versionOf: PackageVersionLookup | undefined): ProfileFrame {
  const filePath = filePathOfScriptUrl(frame.url);
  const pkg = filePath ? packageOfPath(filePath) : undefined;
  return {
    functionName: frame.functionName,
    scriptUrl: frame.url,
    filePath,
    line: frame.lineNumber >= 0 ? frame.lineNumber + 1 : 0,
    column: frame.columnNumber >= 0 ? frame.columnNumber + 1 : 0,
    packageName: pkg?.name ?? "",
    packageVersion: (pkg && versionOf?.(pkg.root)) ?? "",
    scriptId: frame.scriptId,
    lineCalls: [],
    generatedFile: "",
    generatedLine: 0,
    generatedColumn: 0,
  };
}

/** Reads the hottest lines of the hottest file-backed functions and records the built-ins they call. */
function annotateBuiltinCalls(frames: ProfileFrame[], nodes: ProfileNode[], sourceLine: SourceLineLookup, maxLines: number, maxFrames: number): void {
  const ticksByFrame = new Map<number, Map<number, number>>();
  for (const node of nodes) {
    if (!frames[node.frame]?.filePath) continue;
    let lines = ticksByFrame.get(node.frame);
    for (const tick of node.positionTicks) {
      if (!lines) ticksByFrame.set(node.frame, (lines = new Map()));
      lines.set(tick.line, (lines.get(tick.line) ?? 0) + tick.samples);
    }
  }
  const total = (lines: Map<number, number>): number => [...lines.values()].reduce((a, b) => a + b, 0);
  const hottest = [...ticksByFrame].sort((a, b) => total(b[1]) - total(a[1])).slice(0, maxFrames);
  for (const [index, lines] of hottest) {
    const frame = frames[index] as ProfileFrame;
    const calls: LineCalls[] = [];
    for (const [line] of [...lines].sort((a, b) => b[1] - a[1]).slice(0, maxLines)) {
      const text = sourceLine(frame.filePath, line);
      const builtins = text === undefined ? [] : builtinCallsOnLine(text);
      if (builtins.length > 0) calls.push({ line, builtins });
    }
    frame.lineCalls = calls.sort((a, b) => a.line - b.line);
  }
}
