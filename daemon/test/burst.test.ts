import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { InspectorSession } from "../src/inspector/session.js";
import type { CpuProfile } from "../src/sampler/cpu-profile.js";
import { toBurstProfile } from "../src/spike/burst-profile.js";
import { takeBurst } from "../src/spike/burst.js";
import { sliceProfile } from "../src/spike/window-slice.js";

const fixtures = join(import.meta.dirname, "..", "..", "test", "fixtures", "profiles");
const depProfile = JSON.parse(readFileSync(join(fixtures, "dep-app.cpuprofile.json"), "utf8")) as CpuProfile;

/** A burst session (our own interface) that records commands and can be made to hang on Profiler.stop. */
class BurstSession implements InspectorSession {
  readonly sent: string[] = [];
  closed = false;
  closedAt = 0;
  /** Like V8 when the windows' rotation calls console.profile() right after this session enabled its Profiler. */
  private profiling = false;
  constructor(
    private readonly hangOnStop: boolean,
    private readonly rotationAfterEnable = false,
  ) {}
  send<T>(method: string): Promise<T> {
    this.sent.push(method);
    if (method === "Profiler.enable" && this.rotationAfterEnable) this.profiling = true;
    if (method === "Profiler.setSamplingInterval" && this.profiling) return Promise.reject(new Error("Cannot change sampling interval when profiling."));
    if (method === "Profiler.stop") {
      if (this.hangOnStop) return new Promise<T>(() => undefined);
      return Promise.resolve({ profile: depProfile } as T);
    }
    return Promise.resolve({} as T);
  }
  on(): void {}
  onClose(): void {}
  async close(): Promise<void> {
    this.closed = true;
    this.closedAt = performance.now();
  }
}

describe("burst profile", () => {
  it("sets the high-resolution interval before starting, and closes its own session", async () => {
    const session = new BurstSession(false);
    const profile = await takeBurst(async () => session, { intervalUs: 250, durationMs: 50 });
    expect(profile).toBe(depProfile);
    expect(session.sent.slice(0, 4)).toEqual(["Profiler.setSamplingInterval", "Profiler.enable", "Profiler.start", "Profiler.stop"]);
    expect(session.closed).toBe(true);
  });

  it("is not lost when the windows' rotation starts a console profile in its session right after enable", async () => {
    const session = new BurstSession(false, true);
    expect(await takeBurst(async () => session, { intervalUs: 500, durationMs: 20 })).toBe(depProfile);
  });

  it("never outlives its bound: a target that never hands the profile over gets its session closed", async () => {
    const session = new BurstSession(true);
    const started = performance.now();
    await expect(takeBurst(async () => session, { intervalUs: 250, durationMs: 100 })).rejects.toThrow(/did not arrive/);
    expect(session.closed).toBe(true);
    expect(session.closedAt - started).toBeLessThan(100 + 3_000 + 500);
  }, 10_000);

  it("is cut short when the daemon stops", async () => {
    const session = new BurstSession(false);
    const abort = new AbortController();
    const started = performance.now();
    setTimeout(() => abort.abort(), 50);
    await takeBurst(async () => session, { intervalUs: 250, durationMs: 60_000, signal: abort.signal });
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(session.closed).toBe(true);
  });

  it("keeps the call tree and timeline, tags packages, and names the built-ins on hot lines", () => {
    const lines = new Map([[15, "  return bcrypt.hashSync(JSON.stringify(password), salt);"]]);
    const burst = toBurstProfile(depProfile, {
      versionOf: (root) => (root.endsWith("/bcryptjs") ? "3.0.3" : undefined),
      sourceLine: (_file, line) => lines.get(line),
    });
    expect(burst.nodes).toHaveLength(depProfile.nodes.length);
    expect(burst.samples).toEqual(depProfile.samples);
    expect(burst.timeDeltas).toHaveLength(depProfile.timeDeltas?.length ?? 0);
    // Every parent link points at a node whose children list holds it.
    for (const node of burst.nodes) {
      if (node.parentId === 0) continue;
      expect(depProfile.nodes.find((n) => n.id === node.parentId)?.children).toContain(node.id);
    }
    const bcryptFrames = burst.frames.filter((f) => f.packageName === "bcryptjs");
    expect(bcryptFrames.length).toBeGreaterThan(0);
    expect(bcryptFrames.every((f) => f.packageVersion === "3.0.3")).toBe(true);
    // Frames are shared, not repeated per node.
    expect(new Set(burst.frames.map((f) => `${f.scriptUrl}|${f.functionName}|${f.line}|${f.column}|${f.scriptId}`)).size).toBe(burst.frames.length);
  });
});

describe("a spike inside a native call, profiled from the rolling window", () => {
  it("keeps the window's samples from the given moment on, with their times", () => {
    // Samples every 10 ms from t = 0 to 1 s (V8 clock, µs); the window ended at wall-clock 5,000 ms.
    const nodes = [{ id: 1, callFrame: { functionName: "(root)", scriptId: "0", url: "", lineNumber: -1, columnNumber: -1 } }];
    const profile: CpuProfile = { nodes, startTime: 0, endTime: 1_000_000, samples: Array(100).fill(1) as number[], timeDeltas: Array(100).fill(10_000) as number[] };
    const slice = sliceProfile(profile, { endMs: 5_000 }, 4_700);
    // The last 300 ms: samples at 700 ms ... 1000 ms.
    expect(slice.startTime).toBe(700_000);
    expect(slice.samples).toHaveLength(31);
    expect(slice.timeDeltas?.[0]).toBe(0);
    expect(slice.timeDeltas?.slice(1).every((d) => d === 10_000)).toBe(true);
    expect(sliceProfile(profile, { endMs: 5_000 }, 0).samples).toHaveLength(100);
  });
});
