import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { ErrorCodes, SeismoError } from "@seismo/agent-proto";

/**
 * Thin readers over /proc/<pid>. Each turns the OS's answer into plain data
 * (parsing lives in pure functions below, unit-tested on real samples) and
 * turns "no such process" and "not allowed" into typed errors.
 */

const USER_HZ = 100; // Linux reports /proc times in USER_HZ, which is 100 on every mainstream architecture.

function procError(pid: number, cause: unknown): SeismoError {
  const code = (cause as NodeJS.ErrnoException)?.code;
  if (code === "ENOENT" || code === "ESRCH") {
    return new SeismoError(ErrorCodes.TARGET_NOT_FOUND, `No process with pid ${pid}.`, {
      cause,
      hint: "Check the pid with `ps`; in Kubernetes the sidecar needs `shareProcessNamespace: true` to see the app.",
    });
  }
  if (code === "EACCES" || code === "EPERM") {
    return new SeismoError(ErrorCodes.TARGET_NOT_PERMITTED, `Not allowed to inspect process ${pid}.`, {
      cause,
      hint: "Run Seismo as the same user as the target (same runAsUser in Kubernetes).",
    });
  }
  return new SeismoError(ErrorCodes.TARGET_NOT_FOUND, `Cannot read /proc/${pid}: ${(cause as Error).message}.`, { cause });
}

function read(pid: number, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, "utf8");
  } catch (cause) {
    throw procError(pid, cause);
  }
}

/** True while the process runs; a zombie (exited, not yet reaped by its parent) counts as gone. */
export function processExists(pid: number): boolean {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, "utf8")).state !== "Z";
  } catch {
    return false;
  }
}

export function readCmdline(pid: number): string[] {
  return splitNul(read(pid, "cmdline"));
}

/** The environment the process started with (later changes inside the process are not visible). */
export function readEnviron(pid: number): Map<string, string> {
  const env = new Map<string, string>();
  for (const entry of splitNul(read(pid, "environ"))) {
    const eq = entry.indexOf("=");
    if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return env;
}

export function readExe(pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch (cause) {
    // A process we may not readlink (other user) can still be probed by name.
    if ((cause as NodeJS.ErrnoException).code === "EACCES") return "";
    throw procError(pid, cause);
  }
}

export function splitNul(text: string): string[] {
  const parts = text.split("\u0000");
  if (parts.at(-1) === "") parts.pop();
  return parts;
}

export interface ProcStat {
  comm: string;
  state: string;
  ppid: number;
  /** CPU time in user and kernel mode, ms. */
  utimeMs: number;
  stimeMs: number;
  /** Ticks after boot when the process started. */
  startTicks: number;
  rssPages: number;
}

/** Parses /proc/<pid>/stat; the command name may hold spaces and parentheses, so split after the last ")". */
export function parseProcStat(text: string): ProcStat {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  const fields = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  // fields[0] is field 3 (state) of proc(5).
  const field = (n: number): number => Number(fields[n - 3]);
  return {
    comm: text.slice(open + 1, close),
    state: fields[0] ?? "?",
    ppid: field(4),
    utimeMs: (field(14) * 1000) / USER_HZ,
    stimeMs: (field(15) * 1000) / USER_HZ,
    startTicks: field(22),
    rssPages: field(24),
  };
}

export function readProcStat(pid: number): ProcStat {
  return parseProcStat(read(pid, "stat"));
}

let bootTimeMs: number | undefined;

/** When the process started, as unix ms. Stable for the life of the process: part of its identity. */
export function processStartMs(pid: number): number {
  if (bootTimeMs === undefined) {
    const btime = /^btime\s+(\d+)/m.exec(readFileSync("/proc/stat", "utf8"));
    bootTimeMs = btime ? Number(btime[1]) * 1000 : 0;
  }
  return bootTimeMs + (readProcStat(pid).startTicks * 1000) / USER_HZ;
}

export interface ProcStatus {
  /** Signals the process catches (bit n-1 for signal n). */
  caughtSignals: bigint;
  /** The pid in each nested PID namespace, outermost first. */
  nsPids: number[];
  uid: number;
}

export function parseProcStatus(text: string): ProcStatus {
  const line = (key: string): string => new RegExp(`^${key}:\\s*(.*)$`, "m").exec(text)?.[1]?.trim() ?? "";
  const caught = line("SigCgt");
  const nsPids = line("NSpid").split(/\s+/).filter(Boolean).map(Number);
  return {
    caughtSignals: caught ? BigInt(`0x${caught}`) : 0n,
    nsPids,
    uid: Number(line("Uid").split(/\s+/)[0] ?? -1),
  };
}

export function readProcStatus(pid: number): ProcStatus {
  return parseProcStatus(read(pid, "status"));
}

export const SIGUSR1_NUMBER = 10;

export function catchesSignal(status: ProcStatus, signal: number): boolean {
  return ((status.caughtSignals >> BigInt(signal - 1)) & 1n) === 1n;
}

/** Socket inodes the process holds open (from its fd table). */
export function socketInodesOf(pid: number): Set<string> {
  const inodes = new Set<string>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch (cause) {
    throw procError(pid, cause);
  }
  for (const fd of fds) {
    try {
      const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const match = /^socket:\[(\d+)\]$/.exec(link);
      if (match?.[1]) inodes.add(match[1]);
    } catch {
      // The fd closed between readdir and readlink: not ours to worry about.
    }
  }
  return inodes;
}

/** Direct children, from every thread's children list. */
export function childrenOf(pid: number): number[] {
  const children: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").trim();
      if (text) children.push(...text.split(/\s+/).map(Number));
    }
  } catch {
    // Gone, or not ours: no children we can see.
  }
  return children;
}
