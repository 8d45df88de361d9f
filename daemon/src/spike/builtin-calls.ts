/**
 * Names the built-in functions a line of JavaScript calls, for the few that can
 * burn real CPU on their own. V8's profiler charges time inside these built-ins
 * (JSON, RegExp, synchronous zlib and crypto) to the calling function's line,
 * so a spike in JSON.stringify looks like a spike in its caller unless someone
 * reads that line. Pure; a heuristic on source text, documented as such.
 */

const CALLS: ReadonlyArray<readonly [RegExp, string]> = [
  [/\bJSON\s*\.\s*parse\s*\(/, "JSON.parse"],
  [/\bJSON\s*\.\s*stringify\s*\(/, "JSON.stringify"],
  [/\bstructuredClone\s*\(/, "structuredClone"],
  [/\.\s*(inflate|deflate|gzip|gunzip|unzip|inflateRaw|deflateRaw|brotliCompress|brotliDecompress|zstdCompress|zstdDecompress)Sync\s*\(/, "zlib.$1Sync"],
  [/\.\s*(pbkdf2|scrypt|generateKeyPair|generatePrime|randomFill)Sync\s*\(/, "crypto.$1Sync"],
];

/** A regular expression literal (or new RegExp) followed, on the same line, by a method that runs it. */
const REGEX_USE =
  /(?:^|[=(,:;!&|?{}[\s])\/(?![*/])(?:\\.|\[(?:\\.|[^\]\\])*\]|[^/\\\n[])+\/[dgimsuyv]*\s*\.\s*(test|exec)\s*\(|\.\s*(match|matchAll|replace|replaceAll|search|split)\s*\(\s*\/(?![*/])|\bnew\s+RegExp\s*\(/;

export function builtinCallsOnLine(line: string): string[] {
  const text = line.length > 2_000 ? line.slice(0, 2_000) : line;
  const found: string[] = [];
  for (const [pattern, name] of CALLS) {
    const match = pattern.exec(text);
    if (match) found.push(name.replace("$1", match[1] ?? ""));
  }
  const regex = REGEX_USE.exec(text);
  if (regex) found.push(`RegExp#${regex[1] ?? regex[2] ?? "exec"}`);
  return found;
}
