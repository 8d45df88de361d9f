import { describe, expect, it } from "vitest";
import type { CpuProfile, InspectorSession, RawWindow } from "../src/index.js";
import { Sampler } from "../src/index.js";

/**
 * A scripted inspector (our own interface): it records commands and, like V8,
 * answers profileEnd(title) with a Profiler.consoleProfileFinished event for
 * that title, before the evaluate's own reply.
 */
class ScriptedSession implements InspectorSession {
  readonly sent: string[] = [];
  closed = false;
  private readonly listeners = new Map<string, Array<(params: unknown) => void>>();
  private readonly running = new Set<string>();

  async send<T>(method: string, params?: object): Promise<T> {
    const expression = (params as { expression?: string } | undefined)?.expression;
    this.sent.push(expression ? `${method} ${expression}` : method);
    if (method === "Runtime.evaluate" && expression) {
      for (const [, call, title] of expression.matchAll(/(profileEnd|profile)\("([^"]+)"\)/g)) {
        if (call === "profile") this.running.add(title as string);
        else if (this.running.delete(title as string)) this.emit("Profiler.consoleProfileFinished", { title, profile: profileNamed(title as string) });
      }
      return {} as T;
    }
    return {} as T;
  }

  on(event: string, listener: (params: unknown) => void): void {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
  }

  emit(event: string, params: unknown): void {
    for (const l of this.listeners.get(event) ?? []) l(params);
  }

  onClose(): void {}
  async close(): Promise<void> {
    this.closed = true;
  }

  get runningProfiles(): number {
    return this.running.size;
  }
}

function profileNamed(title: string): CpuProfile {
  return { nodes: [{ id: 1, callFrame: { functionName: title, scriptId: "1", url: "", lineNumber: 0, columnNumber: 0 } }], startTime: 0, endTime: 1 };
}

describe("Sampler", () => {
  it("rotates by overlapping console profiles, delivers each window's profile in order, and ends clean", async () => {
    const session = new ScriptedSession();
    const windows: RawWindow[] = [];
    const sampler = new Sampler(session, { intervalUs: 10_000, windowMs: 60_000, recompile: true }, (w) => windows.push(w), (e) => {
      throw e;
    });
    await sampler.start();
    expect(session.sent.slice(0, 3)).toEqual(["Profiler.enable", "Profiler.setSamplingInterval", expect.stringMatching(/^Runtime\.evaluate profile\("seismo-[0-9a-f]+-0"\)$/)]);
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
