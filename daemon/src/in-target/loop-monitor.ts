import type * as PerfHooks from "node:perf_hooks";

export interface LoopMonitorSettings {
  key: string;
  /** The monitor removes itself when nobody has read it for this long (a daemon killed with SIGKILL). */
  abandonedAfterMs: number;
}

/**
 * In the target: a perf_hooks event-loop-delay histogram and a 100 ms heartbeat timer, both
 * unref'd so they never keep the process alive. Idempotent: a second install (a re-attach)
 * reuses the first. The histogram's 20 ms resolution means 50 native timer wake-ups a second
 * and no JavaScript; a delay spike starts at 200 ms, so finer would buy nothing. A read returns
 * [p99 ms, max ms, ms since the loop last turned] and resets the histogram.
 */
export function installLoopMonitor({ key: name, abandonedAfterMs }: LoopMonitorSettings): "installed" | "present" {
  const slots = globalThis as unknown as Record<symbol, unknown>;
  const key = Symbol.for(name);
  if (slots[key]) return "present";
  const { monitorEventLoopDelay, performance } = process.getBuiltinModule("node:perf_hooks") as typeof PerfHooks;
  const histogram = monitorEventLoopDelay({ resolution: 20 });
  histogram.enable();
  let lastTurn = performance.now();
  let lastRead = performance.now();
  const remove = (): void => {
    clearInterval(timer);
    histogram.disable();
    delete slots[key];
  };
  const timer = setInterval(() => {
    lastTurn = performance.now();
    if (lastTurn - lastRead > abandonedAfterMs) remove();
  }, 100);
  timer.unref();
  const monitor = {
    read(): [number, number, number] {
      const now = performance.now();
      lastRead = now;
      const reading: [number, number, number] = [histogram.count ? histogram.percentile(99) / 1e6 : 0, histogram.count ? histogram.max / 1e6 : 0, now - lastTurn];
      histogram.reset();
      return reading;
    },
    remove,
  };
  Object.defineProperty(slots, key, { value: monitor, configurable: true, enumerable: false, writable: true });
  return "installed";
}
