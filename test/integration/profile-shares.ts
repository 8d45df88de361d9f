import { join } from "node:path";
import { expect } from "vitest";
import { seismo, seismoRun, startLoad, tempDir } from "./harness.js";

/** One row of `seismo top --json`, the fields these tests read. */
export interface TopRow {
  name: string;
  file: string;
  line: number;
  selfShare: number;
  totalShare: number;
  samples: number;
  inlinedShare: number;
  uncertainShare: number;
  inlineCandidates: string[];
  generatedFile?: string;
  generatedLine?: number;
}

export interface SharesRun {
  rows: TopRow[];
  /** What the target and the sensor printed (the target's --trace-turbo-inlining lines among them). */
  output: string;
  db: string;
}

export interface SharesOptions {
  node: string;
  /** The script and its arguments, after the node flags. */
  script: string[];
  nodeFlags?: string[];
  seismoFlags?: string[];
  env?: Record<string, string>;
  loadMs?: number;
  perSecond?: number;
  path?: string;
}

/**
 * Runs an app under `seismo run` with steady load, then reads `seismo top --json`: the
 * shares Seismo reports per function for that work.
 */
export async function sharesUnderLoad(options: SharesOptions): Promise<SharesRun> {
  const db = join(tempDir(), "shares.db");
  const run = seismo(
    ["run", "--db", db, "--window", "2s", "--interval", "2", "--no-spikes", ...(options.seismoFlags ?? []), "--", options.node, ...(options.nodeFlags ?? []), ...options.script],
    { NODE_OPTIONS: "", ...options.env },
  );
  const port = Number((await run.waitFor(/listening (\d+)/))[1]);
  await run.waitFor(/attached to pid/);
  const load = startLoad(port, options.perSecond ?? 200, options.path ?? "/");
  await new Promise((resolve) => setTimeout(resolve, options.loadMs ?? 8_000));
  await load.stop();
  // Ctrl-C: the app stops (its exit code passed through: 0 when it handles SIGINT, else 130)
  // and the sensor stores its last window.
  run.child.kill("SIGINT");
  const { code } = await run.exited;
  expect([0, 130], run.stderr()).toContain(code);
  const top = await seismoRun(["top", "--db", db, "--since", "10m", "--limit", "60", "--json"]);
  expect(top.code, top.stderr).toBe(0);
  return { rows: JSON.parse(top.stdout) as TopRow[], output: run.stdout() + run.stderr(), db };
}

/** The row of the function declared at file:line (a file's ending is enough). */
export function rowAt(rows: TopRow[], file: string, line: number): TopRow | undefined {
  return rows.find((row) => row.file.endsWith(file) && row.line === line);
}

/** Self share of the function at file:line, 0 when it has no row. */
export function shareAt(rows: TopRow[], file: string, line: number): number {
  return rowAt(rows, file, line)?.selfShare ?? 0;
}

/**
 * The functions --trace-turbo-inlining says V8 inlined ("Inlining 0x… {0x… <SharedFunctionInfo
 * name>} into …"). Not anchored to a line's start: TurboFan compiles on background threads, and
 * two of them tracing at once interleave their lines.
 */
export function inlinedByV8(output: string): Set<string> {
  const names = new Set<string>();
  for (const match of output.matchAll(/Inlining 0x[0-9a-f]+ \{0x[0-9a-f]+ <SharedFunctionInfo ([\w$.]+)>/g)) names.add(match[1] as string);
  return names;
}

/**
 * The function's part of the time spent in the app's own files (those ending in one of `files`):
 * the same work in both runs, whatever the HTTP stack and the JIT cost around it that run.
 */
export function appShareAt(rows: TopRow[], files: string[], file: string, line: number): number {
  const app = rows.filter((row) => files.some((f) => row.file.endsWith(f))).reduce((sum, row) => sum + row.selfShare, 0);
  return app > 0 ? shareAt(rows, file, line) / app : 0;
}

/** Shares as a table for the test log: what was compared with what. */
export function describeShares(label: string, files: string[], functions: Array<[string, string, number]>, measured: TopRow[], truth: TopRow[]): string {
  const pct = (value: number): string => `${(value * 100).toFixed(1).padStart(5)} %`;
  return [
    `${label}: share of the app's own time (of all CPU)`,
    ...functions.map(
      ([name, file, line]) =>
        `  ${name.padEnd(14)} seismo ${pct(appShareAt(measured, files, file, line))} (${pct(shareAt(measured, file, line))})   --no-turbo-inlining ${pct(appShareAt(truth, files, file, line))} (${pct(shareAt(truth, file, line))})`,
    ),
  ].join("\n");
}

/** How runWhereV8Inlined judges a run. */
export interface InlinedRunOptions {
  tries?: number;
  /** Whether V8 must have inlined all of the names or any one of them. */
  need?: "all" | "any";
  /** Other proof from V8 that it inlined, for a run whose buffered trace did not reach us. */
  alsoProven?: (run: SharesRun) => boolean;
  /** What else the run must show to count, e.g. that V8 inlined enough for its own figures to be wrong (may wait for the ground truth). */
  required?: (run: SharesRun) => boolean | Promise<boolean>;
}

/**
 * A run in which V8 inlined every one of `names` (--trace-turbo-inlining), trying up to `tries`
 * times: whether TurboFan inlines a call depends on what it met first and on its budget, and a
 * run where it did not proves nothing about de-inlining. The last run is returned either way.
 */
export async function runWhereV8Inlined(options: SharesOptions, names: string[], judge: InlinedRunOptions = {}): Promise<SharesRun> {
  const { tries = 3, need = "all", alsoProven, required } = judge;
  let run: SharesRun | undefined;
  for (let attempt = 0; attempt < tries; attempt++) {
    run = await sharesUnderLoad({ ...options, nodeFlags: ["--trace-turbo-inlining", ...(options.nodeFlags ?? [])] });
    const inlined = inlinedByV8(run.output);
    const traced = need === "all" ? names.every((name) => inlined.has(name)) : names.some((name) => inlined.has(name));
    if ((traced || alsoProven?.(run) === true) && (await (required?.(run) ?? true))) return run;
  }
  return run as SharesRun;
}

/**
 * The run under Seismo and its ground truth (the same work with --no-turbo-inlining), side by
 * side: two processes at once halve the wait, and each share is of its own process's time, so
 * the other one's load moves the samples' count, not the shares. A retry of the first runs alone.
 */
export async function withGroundTruth(truth: SharesOptions, seen: (truthRun: Promise<SharesRun>) => Promise<SharesRun>): Promise<{ seen: SharesRun; truth: SharesRun }> {
  const truthRun = sharesUnderLoad({ ...truth, nodeFlags: ["--no-turbo-inlining", ...(truth.nodeFlags ?? [])] });
  // Both settle before either is read: a failed arm must not leave the other running unobserved.
  const [seenResult, truthResult] = await Promise.allSettled([seen(truthRun), truthRun]);
  if (truthResult.status === "rejected") throw truthResult.reason;
  if (seenResult.status === "rejected") throw seenResult.reason;
  return { seen: seenResult.value, truth: truthResult.value };
}
