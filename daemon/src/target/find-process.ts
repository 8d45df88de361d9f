import { readdirSync } from "node:fs";
import { looksLikeNode } from "../inspector/activate.js";
import { childrenOf, readCmdline, readExe } from "./proc.js";

function isNode(pid: number): boolean {
  try {
    return looksLikeNode(readExe(pid), readCmdline(pid));
  } catch {
    return false;
  }
}

/** The first Node process in a process tree, breadth first: `seismo run -- npm start` finds the node under npm. */
export function findNodeInTree(rootPid: number): number | undefined {
  const queue = [rootPid];
  const seen = new Set<number>();
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    if (seen.has(pid)) continue;
    seen.add(pid);
    if (isNode(pid)) return pid;
    queue.push(...childrenOf(pid));
  }
  return undefined;
}

export function listPids(): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number);
}

/** The lowest-pid Node process (never this one, nor `except`) whose argv `matches`. */
function findNode(matches: (argv: string[]) => boolean, except?: number): number | undefined {
  for (const pid of listPids().sort((a, b) => a - b)) {
    if (pid === except || pid === process.pid) continue;
    try {
      if (matches(readCmdline(pid)) && isNode(pid)) return pid;
    } catch {
      // exited while we looked
    }
  }
  return undefined;
}

/** A Node process started with exactly this command line (a restart of the one we watched), other than `except`. */
export function findNodeByCmdline(cmdline: string[], except: number): number | undefined {
  const wanted = cmdline.join("\u0000");
  return findNode((argv) => argv.join("\u0000") === wanted, except);
}

/** The lowest-pid Node process whose command line contains `text` (never this process). */
export function findNodeByCommandText(text: string): number | undefined {
  return findNode((argv) => argv.join(" ").includes(text));
}
