import { gunzipSync } from "node:zlib";
import { Profile } from "pprof-format";
import { describe, expect, it } from "vitest";
import type { BurstProfile } from "@seismo/agent-proto";
import type { ChromeCpuProfile } from "../src/spike/cpuprofile-export.js";
import { exportedAttribution, toChromeCpuProfile } from "../src/spike/cpuprofile-export.js";
import { toPprof } from "../src/spike/pprof-export.js";

const frame = (functionName: string, url = "file:///app/a.js", lineNumber = 0) => ({ functionName, scriptId: "1", url, lineNumber, columnNumber: 0 });

describe("pprof export", () => {
  it("keeps every CPU sample with its stack (leaf first) and time, leaves idle out, and carries the wall-clock start", () => {
    const profile: ChromeCpuProfile = {
      nodes: [
        { id: 1, callFrame: frame("(root)", ""), hitCount: 0, children: [2, 4] },
        { id: 2, callFrame: frame("handle", "file:///app/a.js", 9), hitCount: 0, children: [3] },
        { id: 3, callFrame: frame("parse", "file:///app/a.js", 19), hitCount: 3, children: [], positionTicks: [{ line: 22, ticks: 3 }] },
        { id: 4, callFrame: frame("(idle)", ""), hitCount: 1, children: [] },
      ],
      startTime: 1_000,
      endTime: 1_500,
      samples: [3, 3, 2, 4, 3],
      timeDeltas: [0, 100, 100, 100, 100],
    };
    const decoded = Profile.decode(gunzipSync(toPprof(profile, { startedAtMs: 1_700_000_000_000 })));
    const text = (i: number | bigint): string => decoded.stringTable.strings[Number(i)] ?? "";
    const stackOf = (ids: Array<number | bigint>) =>
      ids.map((id) => {
        const location = decoded.location.find((l) => Number(l.id) === Number(id));
        const fn = decoded.function.find((f) => f.id === location?.line[0]?.functionId);
        return `${text(fn?.name ?? 0)}:${Number(location?.line[0]?.line)}`;
      });
    const samples = decoded.sample.map((s) => ({ stack: stackOf(s.locationId), count: Number(s.value[0]), ns: Number(s.value[1]) })).sort((a, b) => b.count - a.count);
    expect(samples).toEqual([
      { stack: ["parse:22", "handle:10"], count: 3, ns: 300_000 },
      { stack: ["handle:10"], count: 1, ns: 100_000 },
    ]);
    expect(Number(decoded.timeNanos)).toBe(1_700_000_000_000 * 1e6);
    expect(Number(decoded.period)).toBe(100_000);
    expect(text(decoded.function[0]?.filename ?? 0)).toBe("file:///app/a.js");
  });

  it("says what Seismo inferred: nodes of inlined functions and callers that may hold inlined code are marked, and counted", () => {
    const frame = (functionName: string, line: number) => ({
      functionName, scriptId: "1", scriptUrl: "file:///app/a.js", filePath: "/app/a.js", line, column: 1, lineCalls: [], generatedFile: "", generatedLine: 0, generatedColumn: 0,
    });
    const node = (id: number, parentId: number, f: number, extra: Partial<BurstProfile["nodes"][number]> = {}) => ({
      id, parentId, frame: f, positionTicks: [], synthetic: false, inlinedSamples: 0, uncertainSamples: 0, candidateFrames: [], ...extra,
    });
    const burst = {
      frames: [frame("(root)", 0), frame("(anonymous) http.createServer(…)", 35), frame("checksum", 17)],
      nodes: [node(1, 0, 0), node(2, 1, 1, { uncertainSamples: 2, candidateFrames: [2] }), node(3, 2, 2, { synthetic: true, inlinedSamples: 5 })],
      samples: [3, 3, 3, 3, 3, 2, 2],
      timeDeltas: [0, 1, 1, 1, 1, 1, 1],
      startTimeUs: 0,
      endTimeUs: 7,
    } as unknown as BurstProfile;
    const exported = toChromeCpuProfile(burst);
    expect(exported.nodes.map((n) => n.callFrame.functionName)).toEqual(["(root)", "(anonymous) http.createServer(…) [+inlined?]", "checksum [inlined]"]);
    expect(exportedAttribution(burst)).toEqual({ inlinedNodes: 1, inlinedSamples: 5, uncertainSamples: 2 });
    const decoded = Profile.decode(gunzipSync(toPprof(exported, { comments: ["exported by Seismo"] })));
    expect(decoded.comment.map((i) => decoded.stringTable.strings[Number(i)])).toEqual(["exported by Seismo"]);
  });
});
