import { describe, expect, it } from "vitest";
import type { RawWindow } from "../src/sampler/sampler.js";
import { Sampler } from "../src/sampler/sampler.js";
import { profileNamed, ScriptedSession } from "./scripted-session.js";

describe("Sampler", () => {
  it("rotates by overlapping console profiles, delivers each window's profile in order, and ends clean", async () => {
    const session = new ScriptedSession();
    const windows: RawWindow[] = [];
    const sampler = new Sampler(session, { intervalUs: 10_000, windowMs: 60_000, recompile: true }, (w) => windows.push(w), (e) => {
      throw e;
    });
    await sampler.start();
    expect(session.sent.slice(0, 3)).toEqual(["Profiler.setSamplingInterval", "Profiler.enable", expect.stringMatching(/^Runtime\.evaluate profile\("seismo-[0-9a-f]+-0"\)$/)]);
    expect(session.sent).toContain("Profiler.startPreciseCoverage");
    expect(session.sent.indexOf("Profiler.stopPreciseCoverage")).toBe(session.sent.indexOf("Profiler.startPreciseCoverage") + 1);

    // Someone else's console profile must not be taken for a window.
    session.emit("Profiler.consoleProfileFinished", { title: "user-profile", profile: profileNamed("user") });
    await sampler.rotate();
    await sampler.rotate();
    // The next window starts before the current one ends: the profiler never stops in between.
    expect(session.sent.filter((c) => c.startsWith("Runtime.evaluate")).at(-1)).toMatch(/profile\("seismo-[0-9a-f]+-2"\); profileEnd\("seismo-[0-9a-f]+-1"\)/);
    expect(session.runningProfiles).toBe(1);

    await sampler.stop();
    expect(windows.map((w) => w.sequence)).toEqual([0, 1, 2]);
    expect(windows.map((w) => w.profile.nodes[0]?.callFrame.functionName)).toEqual(windows.map((w) => expect.stringMatching(new RegExp(`-${w.sequence}$`))));
    expect(session.runningProfiles).toBe(0);
    expect(session.sent.at(-1)).toBe("Profiler.disable");
    expect(sampler.rotationStats().count).toBe(3);
  });

  it("skips the recompile when asked to keep optimized code", async () => {
    const session = new ScriptedSession();
    const sampler = new Sampler(session, { intervalUs: 10_000, windowMs: 60_000, recompile: false }, () => {}, () => {});
    expect(await sampler.start()).toBeUndefined();
    expect(session.sent).not.toContain("Profiler.startPreciseCoverage");
    await sampler.stop();
  });
});
