import { readProcStat } from "./proc.js";

/** A process's CPU, in cores busy (1.0 = one core), since the meter's previous reading. */
export class CpuMeter {
  private last: { atMs: number; cpuMs: number } | undefined;

  constructor(
    private readonly pid: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /**
   * Undefined on the first reading and when /proc does not show the process
   * (attached by URL across PID namespaces). RSS comes along for free.
   */
  read(): { cpu: number | undefined; rssBytes: number } | undefined {
    let stat;
    try {
      stat = readProcStat(this.pid);
    } catch {
      return undefined;
    }
    const atMs = this.now();
    const cpuMs = stat.utimeMs + stat.stimeMs;
    const previous = this.last;
    this.last = { atMs, cpuMs };
    const cpu = previous && atMs > previous.atMs ? (cpuMs - previous.cpuMs) / (atMs - previous.atMs) : undefined;
    return { cpu, rssBytes: stat.rssPages * 4096 };
  }
}
