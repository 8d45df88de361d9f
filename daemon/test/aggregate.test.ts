import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { CallFrame, CpuProfile } from "../src/sampler/cpu-profile.js";
import { aggregateProfile } from "../src/sampler/aggregate.js";

const fixtures = join(import.meta.dirname, "..", "..", "test", "fixtures", "profiles");
const load = (name: string): CpuProfile => JSON.parse(readFileSync(join(fixtures, name), "utf8")) as CpuProfile;

describe("aggregateProfile on recorded profiles", () => {
  it("finds the fixture's designed split: hotFunction ~75 % of CPU, coldFunction ~25 %", () => {
    const result = aggregateProfile(load("cpu-app.cpuprofile.json"));
    const [first, second] = result.functions;
    expect(first?.name).toBe("hotFunction");
    expect(second?.name).toBe("coldFunction");
    expect((first?.selfUs ?? 0) / result.cpuUs).toBeGreaterThan(0.7);
    expect((first?.selfUs ?? 0) / result.cpuUs).toBeLessThan(0.8);
    expect(first?.line).toBe(11); // 1-based declaration line in cpu-app.cjs
    expect(first?.hotLines[0]?.line).toBe(15); // the inner loop
    expect(first?.packageName).toBe("");
  });

  it("accounts for every sample exactly once in self time", () => {
    const profile = load("cpu-app.cpuprofile.json");
    const result = aggregateProfile(profile);
    const selfTotal = result.functions.reduce((sum, f) => sum + f.selfUs, 0);
    expect(Math.abs(selfTotal - result.cpuUs)).toBeLessThan(result.functions.length); // rounding only
    expect(result.cpuUs + result.idleUs + result.gcUs).toBeCloseTo(
      profile.endTime - profile.startTime - (profile.timeDeltas?.[0] ?? 0),
      -2,
    );
    expect(result.totalSamples).toBe(profile.samples?.length);
    for (const f of result.functions) {
      expect(f.totalUs).toBeGreaterThanOrEqual(f.selfUs);
      expect(f.totalSamples).toBeGreaterThanOrEqual(f.selfSamples);
    }
  });

  it("attributes code under node_modules to its package and version", () => {
    const versions: string[] = [];
    const result = aggregateProfile(load("dep-app.cpuprofile.json"), {
      versionOf: (root) => {
        versions.push(root);
        return root.endsWith("/node_modules/bcryptjs") ? "3.0.3" : undefined;
      },
    });
    const top = result.functions[0];
    expect(top?.packageName).toBe("bcryptjs");
    expect(top?.packageVersion).toBe("3.0.3");
    const app = result.functions.find((f) => f.name === "hashPassword");
    expect(app?.packageName).toBe("");
    expect(app?.totalUs).toBeGreaterThan((top?.selfUs ?? 0) * 0.9); // the app frame carries the package's time in its total
  });
});

describe("aggregateProfile on synthetic profiles", () => {
  const frame = (functionName: string, lineNumber = 0) => ({
    functionName,
    scriptId: "1",
    url: "file:///app.js",
    lineNumber,
    columnNumber: 0,
  });

  it("charges each sample the time until the next one, and counts recursion once in total time", () => {
    // root → outer → rec → rec (recursive); samples: rec(inner) 3x, outer 1x, idle 1x
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: { ...frame("(root)"), url: "" }, children: [2, 5] },
        { id: 2, callFrame: frame("outer", 1), children: [3] },
        { id: 3, callFrame: frame("rec", 10), children: [4] },
        { id: 4, callFrame: frame("rec", 10), positionTicks: [{ line: 12, ticks: 3 }] },
        { id: 5, callFrame: { ...frame("(idle)"), url: "" } },
      ],
      startTime: 0,
      endTime: 1_000,
      samples: [4, 4, 4, 2, 5],
      timeDeltas: [0, 100, 100, 100, 100], // times 0,100,200,300,400; last runs to 1000
    };
    const result = aggregateProfile(profile);
    const rec = result.functions.find((f) => f.name === "rec");
    const outer = result.functions.find((f) => f.name === "outer");
    expect(rec).toMatchObject({
      selfUs: 300,
      selfSamples: 3,
      totalUs: 300,
      totalSamples: 3,
      line: 11,
      hotLines: [{ line: 12, samples: 3 }],
    });
    expect(outer).toMatchObject({ selfUs: 100, totalUs: 400, totalSamples: 4 });
    expect(result.idleUs).toBe(600);
    expect(result.cpuUs).toBe(400);
    expect(result.functions.some((f) => f.name === "(idle)" || f.name === "(root)")).toBe(false);
  });

  it("charges a regular expression's own code to the function that runs it, as V8 does for one compiled before the profiler", () => {
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: { ...frame("(root)"), url: "" }, children: [2] },
        { id: 2, callFrame: frame("handler", 1), children: [3] },
        { id: 3, callFrame: frame("isValidSlug", 20), children: [4] },
        { id: 4, callFrame: { ...frame("RegExp: ^([a-z0-9]+-?)+$"), url: "", scriptId: "0" } },
      ],
      startTime: 0,
      endTime: 400,
      samples: [4, 4, 4, 3],
      timeDeltas: [0, 100, 100, 100],
    };
    const result = aggregateProfile(profile);
    expect(result.functions.map((f) => f.name)).toEqual(["isValidSlug", "handler"]);
    expect(result.functions[0]).toMatchObject({ selfUs: 400, selfSamples: 4, totalUs: 400 });
    expect(result.functions[1]).toMatchObject({ selfUs: 0, totalUs: 400 });
  });

  it("keeps GC out of the CPU denominator and program time in it", () => {
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: { ...frame("(root)"), url: "" }, children: [2, 3, 4] },
        { id: 2, callFrame: { ...frame("(garbage collector)"), url: "" } },
        { id: 3, callFrame: { ...frame("(program)"), url: "" } },
        { id: 4, callFrame: frame("") },
      ],
      startTime: 0,
      endTime: 300,
      samples: [2, 3, 4],
      timeDeltas: [0, 100, 100],
    };
    const result = aggregateProfile(profile);
    expect(result).toMatchObject({ gcUs: 100, programUs: 100, cpuUs: 200 });
    expect(result.functions.map((f) => f.name).sort()).toEqual(["(anonymous)", "(program)"]);
  });

  it("keeps the sample that Seismo's own rotation leaves at the start of a window out of the app's figures", () => {
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: { ...frame("(root)"), url: "" }, children: [2, 4] },
        { id: 2, callFrame: { functionName: "", scriptId: "130", url: "", lineNumber: 0, columnNumber: 0 }, children: [3] },
        { id: 3, callFrame: { functionName: "profile", scriptId: "0", url: "", lineNumber: -1, columnNumber: -1 } },
        { id: 4, callFrame: frame("work", 5) },
      ],
      startTime: 0,
      endTime: 400,
      samples: [3, 4, 4, 4],
      timeDeltas: [0, 100, 100, 100],
    };
    const result = aggregateProfile(profile);
    expect(result).toMatchObject({ sensorUs: 100, cpuUs: 300 });
    expect(result.functions.map((f) => f.name)).toEqual(["work"]);
    // An app function that merely shares the name is the app's.
    const own = aggregateProfile({ ...profile, nodes: profile.nodes.map((n) => (n.id === 3 ? { ...n, callFrame: frame("profile", 9) } : n)) });
    expect(own.sensorUs).toBe(0);
    expect(own.functions.map((f) => f.name)).toContain("profile");
  });

  it("with the sampling interval known, leaves out the time the thread was descheduled", () => {
    // Three functions of equal cost, one after another, sampled every 100 µs. The
    // OS preempts the thread in `late` (it runs last after a wake-up) for 400 µs
    // each round: V8 then takes one sample when it resumes, 500 µs after the last.
    const nodes = [
      { id: 1, callFrame: { ...frame("(root)"), url: "" }, children: [2, 3, 4] },
      { id: 2, callFrame: frame("early", 1) },
      { id: 3, callFrame: frame("middle", 2) },
      { id: 4, callFrame: frame("late", 3) },
    ];
    const samples: number[] = [];
    const timeDeltas: number[] = [];
    for (let round = 0; round < 10; round++) {
      samples.push(2, 2, 3, 3, 4, 4, 4);
      timeDeltas.push(100, 100, 100, 100, 100, 100, 500);
    }
    const profile: CpuProfile = { nodes, startTime: 0, endTime: 100 * 60 + 500 * 10 + 100, samples, timeDeltas };
    const selfUs = (result: ReturnType<typeof aggregateProfile>, name: string): number => result.functions.find((f) => f.name === name)?.selfUs ?? 0;

    const wall = aggregateProfile(profile);
    expect(selfUs(wall, "late") / selfUs(wall, "early")).toBeGreaterThan(2);
    expect(wall.descheduledUs).toBe(0);

    const running = aggregateProfile(profile, { samplingIntervalUs: 100 });
    expect(selfUs(running, "early")).toBe(2_000);
    expect(selfUs(running, "middle")).toBe(2_000);
    // The resumed sample stands for nothing, and the one before the gap for at most 1.5 intervals.
    expect(selfUs(running, "late")).toBe(10 * (100 + 150 + 0));
    expect(running.functions.find((f) => f.name === "late")?.selfSamples).toBe(30);
    expect(running.cpuUs + running.descheduledUs).toBe(wall.cpuUs);
  });

  it("survives an empty profile and negative deltas", () => {
    expect(aggregateProfile({ nodes: [], startTime: 0, endTime: 0 })).toMatchObject({ cpuUs: 0, functions: [] });
    const result = aggregateProfile({
      nodes: [{ id: 1, callFrame: frame("f") }],
      startTime: 0,
      endTime: 100,
      samples: [1, 1],
      timeDeltas: [50, -10],
    });
    expect(result.cpuUs).toBeGreaterThanOrEqual(0);
    expect(result.functions[0]?.selfUs).toBeGreaterThanOrEqual(0);
  });
});

describe("native functions", () => {
  it("are counted per JavaScript caller, the nearest outside Node's own code, named in calledBy", () => {
    const frame = (functionName: string, url: string, lineNumber = 0): CallFrame => ({ functionName, url, scriptId: url ? "5" : "0", lineNumber, columnNumber: 4 });
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: frame("(root)", "", -1), children: [2, 5] },
        { id: 2, callFrame: frame("send", "file:///app/node_modules/send/index.js", 559), children: [3] },
        { id: 3, callFrame: frame("statSync", "node:fs", 10), children: [4] },
        { id: 4, callFrame: frame("stat", ""), children: [] },
        { id: 5, callFrame: frame("handler", "file:///app/server.js", 9), children: [6] },
        { id: 6, callFrame: frame("stat", ""), children: [] },
      ],
      startTime: 0,
      endTime: 5_000,
      samples: [4, 4, 4, 6, 6],
      timeDeltas: [1_000, 1_000, 1_000, 1_000, 1_000],
    };
    const stats = aggregateProfile(profile).functions.filter((f) => f.name === "stat");
    expect(stats.map((f) => [f.calledBy, f.selfSamples])).toEqual([
      ["send (send/index.js:560)", 3],
      ["handler (app/server.js:10)", 2],
    ]);
    expect(aggregateProfile(profile).functions.find((f) => f.name === "send")?.calledBy).toBe("");
  });

  it("called from two functions on one line (two callbacks side by side): one row, as the store identifies it", () => {
    // json-server on Node 24: two such rows in one window failed the store's unique key, for good.
    const at = (functionName: string, url: string, columnNumber: number): CallFrame => ({ functionName, url, scriptId: url ? "5" : "0", lineNumber: 3, columnNumber });
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: at("(root)", "", -1), children: [2, 4] },
        { id: 2, callFrame: at("", "file:///app/server.js", 10), children: [3] },
        { id: 3, callFrame: at("stat", "", 0), children: [] },
        { id: 4, callFrame: at("", "file:///app/server.js", 40), children: [5] },
        { id: 5, callFrame: at("stat", "", 0), children: [] },
      ],
      startTime: 0,
      endTime: 3_000,
      samples: [3, 5, 5],
      timeDeltas: [1_000, 1_000, 1_000],
    };
    const stats = aggregateProfile(profile).functions.filter((f) => f.name === "stat");
    expect(stats.map((f) => [f.calledBy, f.selfSamples])).toEqual([["(anonymous) (app/server.js:4)", 3]]);
  });
});
