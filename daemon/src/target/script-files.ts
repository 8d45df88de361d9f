import { existsSync, readFileSync, statSync } from "node:fs";
import type { ScriptFiles } from "../attribution/script-tables.js";

/**
 * The target's script files as the target sees them: through /proc/<pid>/root
 * when the daemon can see the process (a sidecar sharing the pod's process
 * namespace), else the daemon's own filesystem.
 */
export function targetScriptFiles(pid: number | undefined): ScriptFiles {
  const prefix = pid !== undefined && existsSync(`/proc/${pid}/root`) ? `/proc/${pid}/root` : "";
  const candidates = (path: string): string[] => (prefix ? [prefix + path, path] : [path]);
  return {
    stamp: (path) => {
      for (const candidate of candidates(path)) {
        try {
          const stat = statSync(candidate);
          if (stat.isFile()) return `${stat.mtimeMs}:${stat.size}:${stat.ino}`;
        } catch {
          // try the next view of the filesystem
        }
      }
      return undefined;
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
