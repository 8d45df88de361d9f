import { existsSync, readFileSync, statSync } from "node:fs";
import type { ScriptFiles } from "../attribution/script-tables.js";

/** How long a file's stamp is trusted: one window's mapping asks for the same few files thousands of times. */
const STAMP_TTL_MS = 1_000;

/**
 * The target's script files as the target sees them: through /proc/<pid>/root
 * when the daemon can see the process (a sidecar sharing the pod's process
 * namespace), else the daemon's own filesystem. A file's stamp is read from
 * disk at most once a second.
 */
export function targetScriptFiles(pid: number | undefined): ScriptFiles {
  const prefix = pid !== undefined && existsSync(`/proc/${pid}/root`) ? `/proc/${pid}/root` : "";
  const candidates = (path: string): string[] => (prefix ? [prefix + path, path] : [path]);
  const stamps = new Map<string, { at: number; stamp: string | undefined }>();
  const statStamp = (path: string): string | undefined => {
    for (const candidate of candidates(path)) {
      try {
        const stat = statSync(candidate);
        if (stat.isFile()) return `${stat.mtimeMs}:${stat.size}:${stat.ino}`;
      } catch {
        // try the next view of the filesystem
      }
    }
    return undefined;
  };
  return {
    stamp: (path) => {
      const now = Date.now();
      const known = stamps.get(path);
      if (known && now - known.at < STAMP_TTL_MS) return known.stamp;
      const stamp = statStamp(path);
      if (stamps.size > 4_096) stamps.clear();
      stamps.set(path, { at: now, stamp });
      return stamp;
    },
    read: (path) => {
      for (const candidate of candidates(path)) {
        try {
          return readFileSync(candidate, "utf8");
        } catch {
          // try the next view of the filesystem
        }
      }
      return undefined;
    },
  };
}
