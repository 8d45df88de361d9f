import type { SourceLineLookup } from "../spike/burst-profile.js";

const MAX_FILE_BYTES = 8 * 1024 * 1024;
const CACHED_FILES = 32;

/**
 * Reads source lines of the target's files (through its own view of the
 * filesystem), keeping the few most recent files split into lines. Files over
 * 8 MiB (bundles) are not read. Used only for a burst's hottest lines.
 */
export function sourceLineReader(readFile: (path: string) => string | undefined): SourceLineLookup {
  const cache = new Map<string, string[] | undefined>();
  return (filePath, line) => {
    let lines = cache.get(filePath);
    if (!cache.has(filePath)) {
      const text = readFile(filePath);
      lines = text !== undefined && text.length <= MAX_FILE_BYTES ? text.split("\n") : undefined;
      cache.set(filePath, lines);
      if (cache.size > CACHED_FILES) cache.delete(cache.keys().next().value as string);
    }
    return lines?.[line - 1];
  };
}
