import { readProcStat } from "./proc.js";

/** Readings kept to answer `coresOver` (at the spike watch's 2 a second, about two minutes). */
const HISTORY_READINGS = 256;

/** A process's CPU, in cores busy (1.0 = one core), since the meter's previous reading. */
export class CpuMeter {
  private readonly history: Array<{ atMs: number; cpuMs: number }> = [];

  constructor(
    private readonly pid: number,
    private readonly now: () => number = () => performance.now(),
    private readonly readStat: typeof readProcStat = readProcStat,
  ) {}

  /**
   * Undefined on the first reading and when /proc does not show the process
   * (attached by URL across PID namespaces). RSS comes along for free.
   */
  read(): { cpu: number | undefined; rssBytes: number } | undefined {
    let stat;
    try {
      stat = this.readStat(this.pid);
    } catch {
      return undefined;
    }
    const atMs = this.now();
    const cpuMs = stat.utimeMs + stat.stimeMs;
    const previous = this.history.at(-1);
    this.history.push({ atMs, cpuMs });
    if (this.history.length > HISTORY_READINGS) this.history.shift();
    const cpu = previous && atMs > previous.atMs ? (cpuMs - previous.cpuMs) / (atMs - previous.atMs) : undefined;
    return { cpu, rssBytes: stat.rssPages * 4096 };
  }

  /**
   * Cores busy over about the last `spanMs` up to the latest reading, from the readings kept:
   * from the latest one at or before the span's start (the oldest kept when the span is longer).
   * What a blocked loop cost, whatever the readings' own intervals: the reading that first sees
   * a loop turn again also holds the catch-up that followed. Undefined with fewer than two readings.
   */
  coresOver(spanMs: number): number | undefined {
    const latest = this.history.at(-1);
    if (!latest || this.history.length < 2) return undefined;
    const startMs = latest.atMs - spanMs;
    let from = this.history[0] as { atMs: number; cpuMs: number };
    for (const reading of this.history) {
      if (reading.atMs > startMs || reading === latest) break;
      from = reading;
    }
    if (from === latest || latest.atMs <= from.atMs) return undefined;
    return (latest.cpuMs - from.cpuMs) / (latest.atMs - from.atMs);
  }
}
