import { createHash } from "node:crypto";
import type { Dirent } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { dirname, extname, join, relative } from "node:path";

/**
 * A fingerprint of an application's code, for telling deployments apart when
 * nobody labels them: the same code gives the same fingerprint in every
 * process and on every restart; a redeploy that changes any source file, the
 * package manifest or the lockfile gives a new one.
 *
 * What is hashed: the content (not the modification time, which a rebuild
 * changes) of every source file under the application's root (the directory
 * of the package.json nearest its main script), its package.json files and
 * the lockfile. Without a package.json, the main script alone: walking
 * whatever directory it sits in (possibly "/") could read anything. Dependencies count through the lockfile, not through
 * node_modules, which is large and says the same thing. Dot-directories are
 * skipped. The walk is sorted and capped, so the same tree always gives the
 * same answer, and it runs in the daemon, never in the target.
 */
export interface FingerprintLimits {
  maxFiles: number;
  maxBytes: number;
  /** Past this, no fingerprint at all: a partial one would differ from run to run. */
  timeBudgetMs: number;
}

export const DEFAULT_FINGERPRINT_LIMITS: FingerprintLimits = { maxFiles: 5_000, maxBytes: 64 * 1024 * 1024, timeBudgetMs: 3_000 };

export interface CodeFingerprint {
  /** "code-" and 12 hex digits. */
  label: string;
  root: string;
  files: number;
  bytes: number;
  /** True when the caps stopped the walk: files past them do not count. */
  capped: boolean;
}

const SOURCE_EXTENSIONS = new Set([".js", ".mjs", ".cjs", ".jsx", ".ts", ".mts", ".cts", ".tsx", ".node", ".wasm"]);
const ALWAYS = new Set(["package.json", "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lock"]);

function counts(name: string): boolean {
  return ALWAYS.has(name) || SOURCE_EXTENSIONS.has(extname(name));
}

/**
 * Fingerprints the code of the application whose main script is `script`
 * (an absolute path as the target sees it). `fsRoot` is where the target's
 * filesystem is visible from here: "" or `/proc/<pid>/root`. Resolves to
 * undefined when there is no script, nothing readable, or the time budget ran out.
 */
export async function codeFingerprint(
  script: string | undefined,
  fsRoot = "",
  limits: FingerprintLimits = DEFAULT_FINGERPRINT_LIMITS,
): Promise<CodeFingerprint | undefined> {
  if (!script) return undefined;
  const deadline = Date.now() + limits.timeBudgetMs;
  const root = await applicationRoot(script, fsRoot);
  const walks = root !== undefined;
  const files: string[] = [];
  let capped = false;
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (capped || depth > 16) return;
    if (Date.now() > deadline) throw new Error("time budget");
    let entries: Dirent[];
    try {
      entries = await readdir(fsRoot + dir, { withFileTypes: true });
    } catch {
      return;
    }
    entries.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
    for (const entry of entries) {
      if (entry.name.startsWith(".") || entry.name === "node_modules") continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path, depth + 1);
      else if (entry.isFile() && counts(entry.name)) {
        if (files.length >= limits.maxFiles) {
          capped = true;
          return;
        }
        files.push(path);
      }
    }
  };
  try {
    if (walks) await walk(root, 0);
    if (!files.includes(script)) files.unshift(script);
    const hash = createHash("sha256");
    let bytes = 0;
    let hashed = 0;
    for (const file of files) {
      if (Date.now() > deadline) throw new Error("time budget");
      let content: Buffer;
      try {
        content = await readFile(fsRoot + file);
      } catch {
        continue;
      }
      if (bytes + content.length > limits.maxBytes) {
        capped = true;
        break;
      }
      bytes += content.length;
      hashed++;
      hash.update(relative(root ?? dirname(script), file)).update("\0").update(createHash("sha256").update(content).digest()).update("\0");
    }
    if (hashed === 0) return undefined;
    return { label: `code-${hash.digest("hex").slice(0, 12)}`, root: root ?? dirname(script), files: hashed, bytes, capped };
  } catch {
    return undefined;
  }
}

/** The directory of the package.json nearest the script. */
async function applicationRoot(script: string, fsRoot: string): Promise<string | undefined> {
  for (let dir = dirname(script), depth = 0; depth < 8; dir = dirname(dir), depth++) {
    try {
      await readFile(join(fsRoot + dir, "package.json"));
      return dir;
    } catch {
      // not here; look further up
    }
    if (dir === dirname(dir)) break;
  }
  return undefined;
}
