import { readFileSync } from "node:fs";
import { join } from "node:path";

/**
 * Kubernetes pod labels from the downward API, which writes them to a file
 * of `key="value"` lines (values quoted as Go's %q does) when the pod
 * mounts them:
 *
 *   volumes: [{ name: podinfo, downwardAPI: { items: [{ path: labels, fieldRef: { fieldPath: metadata.labels } }] } }]
 *
 * A sidecar sees the same pod labels as the app, so the daemon reads its own
 * mount (SEISMO_PODINFO_DIR, default /etc/podinfo) and, failing that, the
 * app container's, through /proc/<pid>/root.
 */
export function parseDownwardLabels(text: string): Map<string, string> {
  const labels = new Map<string, string>();
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    const key = line.slice(0, eq).trim();
    const raw = line.slice(eq + 1).trim();
    let value = raw;
    if (raw.startsWith('"')) {
      try {
        value = JSON.parse(raw) as string;
      } catch {
        value = raw.slice(1, -1);
      }
    }
    if (key) labels.set(key, value);
  }
  return labels;
}

export const DEFAULT_PODINFO_DIR = "/etc/podinfo";

/** The pod's labels, or an empty map outside Kubernetes (or without the downward API mount). */
export function readPodLabels(
  pid: number | undefined,
  dir = process.env.SEISMO_PODINFO_DIR || DEFAULT_PODINFO_DIR,
): Map<string, string> {
  const candidates = [join(dir, "labels")];
  if (pid !== undefined) candidates.push(`/proc/${pid}/root${join(dir, "labels")}`);
  for (const path of candidates) {
    try {
      return parseDownwardLabels(readFileSync(path, "utf8"));
    } catch {
      // not mounted here
    }
  }
  return new Map();
}
