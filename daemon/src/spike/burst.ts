import { ErrorCodes, SeismoError } from "@seismo/agent-proto";
import type { InspectorSession } from "../inspector/session.js";
import type { CpuProfile } from "../sampler/cpu-profile.js";
import { withTimeout } from "../with-timeout.js";

export interface BurstOptions {
  /** High-resolution sampling interval, µs. */
  intervalUs: number;
  durationMs: number;
  /** Aborts the burst early (the daemon stops); the profile so far is still returned when possible. */
  signal?: AbortSignal;
}

/** How long Profiler.stop may take to hand the profile over before the session is dropped. */
const STOP_GRACE_MS = 3_000;

/**
 * A high-resolution CPU profile taken on a second inspector session of its
 * own. V8 fixes a profiler's sampling interval when the profiler is created,
 * and the rolling windows' profiler must never stop (see Sampler), so the
 * burst gets a profiler of its own; the windows go on at their normal
 * interval meanwhile. Bounded: whatever happens, the burst session is closed
 * within durationMs + 3 s, and closing a session ends its profiling in the
 * target, so a burst can never outlive its bound nor leave high-rate
 * sampling behind, whether or not anyone receives the result.
 *
 * Known limit: code optimized before the burst profiler existed is charged
 * without its inlining details (an inlined helper counts in its caller), and
 * RegExp code compiled before it is charged to the function running it. The
 * rolling windows over the burst's moments keep those details; the analyzer
 * reads the burst against them (analyzer/src/spike/culprits.ts).
 */
export async function takeBurst(open: () => Promise<InspectorSession>, options: BurstOptions): Promise<CpuProfile> {
  const session = await open();
  const deadline = setTimeout(() => void session.close(), options.durationMs + STOP_GRACE_MS);
  deadline.unref();
  try {
    // The interval before enable: the windows' rotation calls console.profile(), which V8 starts in
    // every session whose Profiler is enabled, this one included, and a session that is profiling
    // refuses a new interval ("Cannot change sampling interval when profiling"). A rotation that
    // fell between enable and setSamplingInterval lost a burst (seen in CI); set first, the interval
    // also applies to such a console profile, and Profiler.start joins it.
    await session.send("Profiler.setSamplingInterval", { interval: options.intervalUs });
    await session.send("Profiler.enable");
    await session.send("Profiler.start");
    await sleep(options.durationMs, options.signal);
    const stopped = await withTimeout(
      session.send<{ profile: CpuProfile }>("Profiler.stop"),
      STOP_GRACE_MS,
      () => new SeismoError(ErrorCodes.INSPECTOR_PROTOCOL, `The burst profile did not arrive within ${STOP_GRACE_MS} ms.`),
    );
    return stopped.profile;
  } finally {
    clearTimeout(deadline);
    await session.send("Profiler.disable").catch(() => undefined);
    await session.close();
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
