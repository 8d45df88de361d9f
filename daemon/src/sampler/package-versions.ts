import { join } from "node:path";
import type { PackageVersionLookup } from "./aggregate.js";

/** Package versions read from each package's package.json as the target sees it; cached, misses included. */
export function packageVersionReader(readTargetFile: (path: string) => string | undefined): PackageVersionLookup {
  const cache = new Map<string, string | undefined>();
  return (root) => {
    if (cache.has(root)) return cache.get(root);
    let version: string | undefined;
    const text = readTargetFile(join(root, "package.json"));
    if (text !== undefined) {
      try {
        const parsed = JSON.parse(text) as { version?: unknown };
        if (typeof parsed.version === "string") version = parsed.version;
      } catch {
        version = undefined;
      }
    }
    if (cache.size > 10_000) cache.clear();
    cache.set(root, version);
    return version;
  };
}
