import type { BurstProfile, FunctionStat, HotLine, ProfileFrame } from "@seismo/agent-proto";
import type { PackageVersionLookup } from "../sampler/aggregate.js";
import { describeCandidate, describeLocation } from "../sampler/aggregate.js";
import type { CallFrame } from "../sampler/cpu-profile.js";
import { packageOfPath } from "../sampler/package-of.js";
import type { OriginalLocation, SourceMaps } from "./source-maps.js";

/**
 * A window's functions at the code people wrote: each function of a generated
 * script with a source map (tsc's dist/, a bundle) named and placed at its
 * original file, line and name, its hot lines mapped too, and its generated
 * location kept in generatedFile/generatedLine/generatedColumn. Functions that
 * map to the same original one (a helper a bundle duplicated) are merged. Pure
 * but for the maps and tables it is given.
 */
export function toOriginalStats(functions: FunctionStat[], maps: SourceMaps, versionOf?: PackageVersionLookup): FunctionStat[] {
  let changed = false;
  const mapped = functions.map((f) => {
    if (!f.filePath || f.line < 1) return f;
    const original = maps.originalFunction(f.scriptUrl, f.line - 1, f.column - 1);
    if (!original) return f;
    changed = true;
    return originalStat(f, original, maps, versionOf);
  });
  return changed ? mergeSame(mapped) : functions;
}

/** An inlining candidate or a native's caller named at its original source when it has a map: "taxFor (src/pricing.ts:26)". */
export function describeAtOriginal(maps: SourceMaps): (frame: CallFrame) => string {
  return (frame) => {
    const original = maps.originalFunction(frame.url, frame.lineNumber, frame.columnNumber);
    return original ? describeLocation(original.name ?? frame.functionName, original.filePath || original.url, original.line) : describeCandidate(frame);
  };
}

/** The fields that place a function at its original source: URL, path, line, column, and the package of that path. */
function originalPlace(original: OriginalLocation, versionOf?: PackageVersionLookup): Pick<FunctionStat, "scriptUrl" | "filePath" | "line" | "column" | "packageName" | "packageVersion"> {
  const pkg = original.filePath ? packageOfPath(original.filePath) : undefined;
  return {
    scriptUrl: original.url,
    filePath: original.filePath,
    line: original.line,
    column: original.column,
    packageName: pkg?.name ?? "",
    packageVersion: (pkg && versionOf?.(pkg.root)) ?? "",
  };
}

function originalStat(f: FunctionStat, original: OriginalLocation, maps: SourceMaps, versionOf?: PackageVersionLookup): FunctionStat {
  const lines = new Map<number, number>();
  for (const hot of f.hotLines) {
    const at = maps.originalLine(f.scriptUrl, hot.line);
    if (at && at.url === original.url) lines.set(at.line, (lines.get(at.line) ?? 0) + hot.samples);
  }
  return {
    ...f,
    ...originalPlace(original, versionOf),
    name: original.name ?? f.name,
    hotLines: sortedLines(lines),
    generatedFile: f.filePath,
    generatedLine: f.line,
    generatedColumn: f.column,
  };
}

function sortedLines(lines: Map<number, number>): HotLine[] {
  return [...lines].map(([line, samples]) => ({ line, samples })).sort((a, b) => b.samples - a.samples || a.line - b.line);
}

function mergeSame(functions: FunctionStat[]): FunctionStat[] {
  const byKey = new Map<string, FunctionStat>();
  for (const f of functions) {
    const key = `${f.scriptUrl}\u0000${f.name}\u0000${f.line}\u0000${f.column}\u0000${f.calledBy}`;
    const known = byKey.get(key);
    if (!known) {
      byKey.set(key, f);
      continue;
    }
    const lines = new Map<number, number>();
    for (const hot of [...known.hotLines, ...f.hotLines]) lines.set(hot.line, (lines.get(hot.line) ?? 0) + hot.samples);
    byKey.set(key, {
      ...known,
      selfSamples: known.selfSamples + f.selfSamples,
      totalSamples: known.totalSamples + f.totalSamples,
      selfUs: known.selfUs + f.selfUs,
      totalUs: known.totalUs + f.totalUs,
      inlinedSamples: known.inlinedSamples + f.inlinedSamples,
      uncertainSamples: known.uncertainSamples + f.uncertainSamples,
      inlineCandidates: [...new Set([...known.inlineCandidates, ...f.inlineCandidates])],
      hotLines: sortedLines(lines).slice(0, Math.max(known.hotLines.length, f.hotLines.length)),
    });
  }
  return [...byKey.values()].sort((a, b) => b.selfUs - a.selfUs || b.totalUs - a.totalUs || a.name.localeCompare(b.name));
}

/**
 * A burst profile at the code people wrote: frames with a source map placed at
 * their original function (generated location kept), and the tick lines and
 * built-in calls of their nodes mapped to original lines. Lines that map into
 * another original file than the function's are dropped from its ticks' lines
 * but not from its samples.
 */
export function toOriginalBurst(burst: BurstProfile, maps: SourceMaps, versionOf?: PackageVersionLookup): BurstProfile {
  const originals = burst.frames.map((frame) => (frame.filePath && frame.line > 0 ? maps.originalFunction(frame.scriptUrl, frame.line - 1, frame.column - 1) : undefined));
  if (originals.every((o) => o === undefined)) return burst;
  const lineOf = (frame: ProfileFrame, original: OriginalLocation, line: number): number | undefined => {
    const at = maps.originalLine(frame.scriptUrl, line);
    return at && at.url === original.url ? at.line : undefined;
  };
  const frames = burst.frames.map((frame, i): ProfileFrame => {
    const original = originals[i];
    if (!original) return frame;
    return {
      ...frame,
      ...originalPlace(original, versionOf),
      functionName: original.name ?? frame.functionName,
      lineCalls: frame.lineCalls.flatMap((calls) => {
        const line = lineOf(frame, original, calls.line);
        return line === undefined ? [] : [{ ...calls, line }];
      }),
      generatedFile: frame.filePath,
      generatedLine: frame.line,
      generatedColumn: frame.column,
    };
  });
  const nodes = burst.nodes.map((node) => {
    const original = originals[node.frame];
    if (!original) return node;
    const frame = burst.frames[node.frame] as ProfileFrame;
    const lines = new Map<number, number>();
    for (const tick of node.positionTicks) {
      const line = lineOf(frame, original, tick.line);
      if (line !== undefined) lines.set(line, (lines.get(line) ?? 0) + tick.samples);
    }
    return { ...node, positionTicks: [...lines].map(([line, samples]) => ({ line, samples })) };
  });
  return { ...burst, frames, nodes };
}
