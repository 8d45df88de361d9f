import { createHash } from "node:crypto";

/** Where an exception came from in the app's files: the line to arm a capture at. */
export interface ThrowSite {
  /** An absolute path (a file: URL's path for ES modules). */
  file: string;
  /** 1-based */
  line: number;
  /** 1-based, as V8 prints it */
  column: number;
  functionName: string;
}

// "name (/abs/file.js:12:5)", "name (file:///abs/file.mjs:12:5)", "/abs/file.js:12:5", "async name (…)",
// "async /abs/file.js:12:5" (an anonymous async function awaited).
const FRAME = /^(?:(.*?) \(|async )?((?:file:\/\/)?\/[^()]*?):(\d+):(\d+)\)?$/;

/** The place one stack frame names, when it is in a file (not a built-in's, not Node's own). */
export function frameSite(frame: string): ThrowSite | undefined {
  const match = FRAME.exec(frame.trim());
  if (!match) return undefined;
  const [, name, location, line, column] = match as unknown as [string, string | undefined, string, string, string];
  const file = location.startsWith("file://") ? decodeURIComponent(location.slice("file://".length)) : location;
  return { file, line: Number(line), column: Number(column), functionName: functionNameOf(name) };
}

/**
 * The throw site of an exception, from its stack frames (innermost first, as
 * V8 prints them without "at "): the innermost frame in a file. Frames of
 * built-ins ("JSON.parse (<anonymous>)") and of Node's own code ("node:…")
 * are skipped, so an exception a built-in throws is placed on the app's line
 * that called it. Code in node_modules counts: that is where it was thrown.
 */
export function throwSite(stack: readonly string[]): ThrowSite | undefined {
  for (const frame of stack) {
    const site = frameSite(frame);
    if (site) return site;
  }
  return undefined;
}

/**
 * Where the app met an error its framework handled: the innermost frame in the app's own files
 * (not node_modules). A database error is thrown inside its driver, the same few lines for every
 * query; the app's line tells one failing query from another, and its values are the app's.
 * The throw site when no frame is the app's.
 */
export function appThrowSite(stack: readonly string[]): ThrowSite | undefined {
  for (const frame of stack) {
    const site = frameSite(frame);
    if (site && !site.file.includes("/node_modules/")) return site;
  }
  return throwSite(stack);
}

/** "async Foo.bar [as baz]" → "bar"; no name → "(anonymous)". */
function functionNameOf(name: string | undefined): string {
  if (!name) return "(anonymous)";
  const bare = name.replace(/^async /, "").replace(/^new /, "").replace(/ \[as [^\]]+\]$/, "");
  return bare.slice(bare.lastIndexOf(".") + 1) || "(anonymous)";
}

/**
 * One exception's identity across occurrences and processes: its class and
 * throw site. The message is left out (it often carries ids or values), and
 * so is the column (a minified line holds many statements, but a throw site
 * on one line is one place to arm).
 */
export function errorFingerprint(name: string, site: ThrowSite | undefined): string {
  const where = site ? `${site.file}:${site.line}` : "(no stack)";
  return createHash("sha256").update(`${name}\u0000${where}`).digest("hex").slice(0, 12);
}
