import { gzipSync } from "node:zlib";
import { Function as PprofFunction, Line, Location, Profile, Sample, StringTable, ValueType } from "pprof-format";
import type { ChromeCpuProfile } from "./cpuprofile-export.js";

/** V8 pseudo-frames that are not the process's work: left out of a CPU profile. */
const NOT_CPU = new Set(["(idle)", "(root)"]);

/**
 * A .cpuprofile as pprof (profile.proto, gzipped), the format Pyroscope, Grafana and
 * `go tool pprof` read. Samples are grouped by stack: two values per stack, the sample count
 * and the CPU time in nanoseconds (each sample stands for the time until the next one, as in
 * Seismo's own figures). Lines and files are kept: a frame's line is where V8 saw it run when it
 * says so, else its declaration. Idle time is left out. `comments` go in the profile's own
 * comment field (what `go tool pprof -comments` prints). Pure.
 */
export function toPprof(profile: ChromeCpuProfile, options: { startedAtMs?: number; comments?: string[] } = {}): Uint8Array {
  const strings = new StringTable();
  const comment = (options.comments ?? []).map((text) => strings.dedup(text));
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children) parentOf.set(child, node.id);

  const functions: PprofFunction[] = [];
  const functionIds = new Map<string, number>();
  const functionOf = (frame: ChromeCpuProfile["nodes"][number]["callFrame"]): number => {
    const key = `${frame.functionName}\u0000${frame.url}\u0000${frame.lineNumber}\u0000${frame.columnNumber}`;
    let id = functionIds.get(key);
    if (id === undefined) {
      id = functions.length + 1;
      functionIds.set(key, id);
      const name = strings.dedup(frame.functionName || "(anonymous)");
      functions.push(new PprofFunction({ id, name, systemName: name, filename: strings.dedup(frame.url), startLine: frame.lineNumber + 1 }));
    }
    return id;
  };
  // One location per profile node: its function, at the line that ran most there when V8 said.
  const locations = new Map<number, Location>();
  const locationOf = (nodeId: number): number => {
    const existing = locations.get(nodeId);
    if (existing) return Number(existing.id);
    const node = nodes.get(nodeId);
    const frame = node?.callFrame ?? { functionName: "(unknown)", scriptId: "0", url: "", lineNumber: -1, columnNumber: -1 };
    const hottest = [...(node?.positionTicks ?? [])].sort((a, b) => b.ticks - a.ticks)[0];
    const line = hottest?.line ?? frame.lineNumber + 1;
    const location = new Location({ id: locations.size + 1, line: [new Line({ functionId: functionOf(frame), line: Math.max(0, line) })] });
    locations.set(nodeId, location);
    return Number(location.id);
  };

  // Time per sample: until the next one (the last one gets its own delta).
  const counts = new Map<number, { count: number; ns: number }>();
  const samples = profile.samples;
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i] as number;
    if (NOT_CPU.has(nodes.get(id)?.callFrame.functionName ?? "")) continue;
    const us = i + 1 < samples.length ? (profile.timeDeltas[i + 1] ?? 0) : (profile.timeDeltas[i] ?? 0);
    const entry = counts.get(id) ?? { count: 0, ns: 0 };
    entry.count++;
    entry.ns += Math.max(0, us) * 1000;
    counts.set(id, entry);
  }
  const pprofSamples: Sample[] = [];
  for (const [leaf, { count, ns }] of counts) {
    const stack: number[] = [];
    for (let at: number | undefined = leaf; at !== undefined; at = parentOf.get(at)) {
      if (nodes.get(at)?.callFrame.functionName === "(root)") continue;
      stack.push(locationOf(at));
    }
    pprofSamples.push(new Sample({ locationId: stack, value: [count, Math.round(ns)] }));
  }
  const deltas = profile.timeDeltas.slice(1).filter((d) => d > 0).sort((a, b) => a - b);
  const periodUs = deltas[Math.floor(deltas.length / 2)] ?? 1000;
  const pprof = new Profile({
    sampleType: [new ValueType({ type: strings.dedup("samples"), unit: strings.dedup("count") }), new ValueType({ type: strings.dedup("cpu"), unit: strings.dedup("nanoseconds") })],
    sample: pprofSamples,
    location: [...locations.values()],
    function: functions,
    stringTable: strings,
    // A .cpuprofile's times are V8's monotonic clock: the wall-clock start comes from the caller.
    timeNanos: BigInt(Math.round(options.startedAtMs ?? 0)) * 1_000_000n,
    durationNanos: BigInt(Math.max(0, Math.round(profile.endTime - profile.startTime))) * 1000n,
    periodType: new ValueType({ type: strings.dedup("cpu"), unit: strings.dedup("nanoseconds") }),
    comment,
    period: Math.round(periodUs * 1000),
  });
  return gzipSync(pprof.encode());
}
