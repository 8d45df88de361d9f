import type { InspectorSession } from "../src/inspector/session.js";
import type { CpuProfile } from "../src/sampler/cpu-profile.js";

/**
 * A scripted inspector (our own interface): it records commands and, like V8,
 * answers profileEnd(title) with a Profiler.consoleProfileFinished event for
 * that title, before the evaluate's own reply.
 */
export class ScriptedSession implements InspectorSession {
  readonly sent: string[] = [];
  closed = false;
  private readonly listeners = new Map<string, Array<(params: unknown) => void>>();
  private readonly running = new Set<string>();

  async send<T>(method: string, params?: object): Promise<T> {
    const expression = (params as { expression?: string } | undefined)?.expression;
    this.sent.push(expression ? `${method} ${expression}` : method);
    if (method === "Runtime.evaluate" && expression?.includes("process.pid")) {
      // The target describing itself: this very process plays the target.
      const facts = { pid: process.pid, nodeVersion: process.version, v8Version: process.versions.v8, argv: ["node", "app.js"], execArgv: [], cwd: process.cwd() };
      return { result: { value: JSON.stringify(facts) } } as T;
    }
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

export function profileNamed(title: string): CpuProfile {
  return { nodes: [{ id: 1, callFrame: { functionName: title, scriptId: "1", url: "", lineNumber: 0, columnNumber: 0 } }], startTime: 0, endTime: 1 };
}
