import { relative } from "node:path";
import type { TopFunction, TopResult } from "@seismo/analyzer";
import { INLINED_LEGEND, MARK_SHARE, markedName, uncertainLegend } from "@seismo/analyzer";

export interface TableOptions {
  /** Terminal width; lines are cut to fit so a redraw never wraps. */
  width?: number;
  /** Paths under this directory are shown relative to it. */
  cwd?: string;
}

function percent(share: number): string {
  return `${(share * 100).toFixed(1)}%`;
}

function milliseconds(ms: number): string {
  return ms >= 10_000 ? `${(ms / 1_000).toFixed(1)}s` : `${Math.round(ms)}ms`;
}

export function locationOf(fn: Pick<TopFunction, "file" | "line">, cwd?: string): string {
  if (!fn.file) return "";
  let file = fn.file;
  if (cwd && file.startsWith("/")) {
    const rel = relative(cwd, file);
    if (!rel.startsWith("..")) file = rel;
  }
  const nodeModules = file.lastIndexOf("node_modules/");
  if (nodeModules >= 0) file = file.slice(nodeModules + "node_modules/".length);
  return `${file}:${fn.line}`;
}

function packageOf(fn: TopFunction): string {
  if (!fn.package) return fn.scriptUrl.startsWith("node:") ? "(node)" : "";
  return fn.packageVersion ? `${fn.package}@${fn.packageVersion}` : fn.package;
}

export { markedName };

/** Where a function is; a native one (no file) by the JavaScript that called it: "← send (send/index.js:560)". */
function placeOf(fn: TopFunction, cwd?: string): string {
  return locationOf(fn, cwd) || (fn.calledBy ? `← ${fn.calledBy}` : "");
}

/**
 * What the marks mean, for the rows that carry one: inferred figures are told apart from V8's.
 * Empty when no row is marked.
 */
export function attributionNotes(result: TopResult, cwd?: string): string[] {
  const notes: string[] = [];
  if (result.functions.some((fn) => fn.inlinedShare >= MARK_SHARE)) notes.push(INLINED_LEGEND);
  for (const fn of result.functions) {
    if (fn.uncertainShare >= MARK_SHARE) notes.push(uncertainLegend(fn.name, locationOf(fn, cwd), fn.uncertainShare, fn.inlineCandidates));
  }
  return notes;
}

/** The `seismo top` table, one string per line. Pure, so the live view and the verb print the same thing. */
export function renderTopTable(result: TopResult, options: TableOptions = {}): string[] {
  const width = options.width ?? 120;
  const header = ["SELF%", "TOTAL%", "SELF", "FUNCTION", "LOCATION", "PACKAGE"];
  const rows = result.functions.map((fn) => [
    percent(fn.selfShare),
    percent(fn.totalShare),
    milliseconds(fn.selfMs),
    markedName(fn),
    placeOf(fn, options.cwd),
    packageOf(fn),
  ]);
  const all = [header, ...rows];
  const widths = header.map((_, col) =>
    Math.min(col === 3 ? 40 : col === 4 ? 60 : 30, Math.max(...all.map((r) => (r[col] as string).length))),
  );
  const lines = all.map((cells) =>
    cells
      .map((cell, col) => {
        const w = widths[col] as number;
        const cut = cell.length > w ? `${cell.slice(0, w - 1)}…` : cell;
        return col < 3 ? cut.padStart(w) : cut.padEnd(w);
      })
      .join("  ")
      .trimEnd(),
  );
  return lines.map((line) => (line.length > width ? `${line.slice(0, width - 1)}…` : line));
}

/** One plain line for logs and non-terminal output: the top three functions of a period. */
export function summarizeTop(result: TopResult, cwd?: string): string {
  if (result.functions.length === 0) return "no CPU samples yet";
  return result.functions
    .slice(0, 3)
    .map((fn) => {
      const where = locationOf(fn, cwd);
      const place = where ? ` (${where})` : fn.calledBy ? ` ← ${fn.calledBy}` : "";
      return `${markedName(fn)}${place} ${percent(fn.selfShare)}`;
    })
    .join(" · ");
}
