import type { Db } from "../store/database.js";

export interface TopQuery {
  /** Only windows that ended at or after this time (unix ms)... */
  sinceMs: number;
  /** ...and before this one (default: no end). */
  untilMs?: number | undefined;
  service?: string | undefined;
  limit?: number;
}

export interface HotLineFigure {
  line: number;
  samples: number;
}

/** One row of `seismo top --json`: field names are part of the CLI's contract. */
export interface TopFunction {
  name: string;
  file: string;
  line: number;
  column: number;
  /** npm package the function lives in; null for the app's own code and Node internals. */
  package: string | null;
  packageVersion: string | null;
  scriptUrl: string;
  service: string;
  selfMs: number;
  totalMs: number;
  /** 0..1 of all sampled CPU time in the period (idle and GC excluded). */
  selfShare: number;
  totalShare: number;
  /** Samples whose top frame was this function. */
  samples: number;
  totalSamples: number;
  hotLines: HotLineFigure[];
  /**
   * Seismo's inference, not V8's: the part (0..1) of `samples` that V8 charged to a caller this
   * function was inlined into, moved here by the daemon from their source lines.
   */
  inlinedShare: number;
  /** The part (0..1) of `samples` that may be inlined code of `inlineCandidates`: their lines fit several functions. */
  uncertainShare: number;
  /** "name (file:line)" of the functions the uncertain samples may belong to. */
  inlineCandidates: string[];
  /** Where V8 ran it, when a source map placed it at `file`:`line` (dist/*.js, a bundle); null without a map. */
  generatedFile: string | null;
  generatedLine: number | null;
  /** For a native function (writev, stat): the JavaScript function that called it, "name (file:line)"; null otherwise. */
  calledBy: string | null;
}

export interface TopResult {
  sinceMs: number;
  windows: number;
  cpuMs: number;
  functions: TopFunction[];
}

interface Row {
  function_id: number;
  service: string;
  name: string;
  script_url: string;
  file_path: string;
  line: number;
  col: number;
  package_name: string | null;
  package_version: string | null;
  self_us: number;
  total_us: number;
  self_samples: number;
  total_samples: number;
  inlined_samples: number;
  uncertain_samples: number;
  generated_file: string;
  generated_line: number;
  called_by: string;
}

/** Candidates named per function: enough to say what uncertain time may be. */
const MAX_CANDIDATES = 6;

/** The hottest functions by self time over a period, with shares of the period's CPU time. */
export function topFunctions(db: Db, query: TopQuery): TopResult {
  const limit = Math.max(1, Math.min(query.limit ?? 20, 10_000));
  const params = {
    since: query.sinceMs,
    limit,
    ...(query.service === undefined ? {} : { service: query.service }),
    ...(query.untilMs === undefined ? {} : { until: query.untilMs }),
  };
  // Written per case (not "@service IS NULL OR ...") so SQLite can search the (service, end_ms) index.
  const windowFilter =
    (query.service === undefined ? "w.end_ms >= @since" : "w.service = @service AND w.end_ms >= @since") + (query.untilMs === undefined ? "" : " AND w.end_ms < @until");
  const totals = db
    .prepare(`SELECT COUNT(*) AS windows, COALESCE(SUM(cpu_us), 0) AS cpu_us FROM windows w WHERE ${windowFilter}`)
    .get(params) as { windows: number; cpu_us: number };
  const rows = db
    .prepare(
      `SELECT f.function_id, w.service, f.name, f.script_url, f.file_path, f.line, f.col, f.package_name, f.package_version,
              f.generated_file, f.generated_line, f.called_by,
              SUM(wf.self_us) AS self_us, SUM(wf.total_us) AS total_us,
              SUM(wf.self_samples) AS self_samples, SUM(wf.total_samples) AS total_samples,
              SUM(wf.inlined_samples) AS inlined_samples, SUM(wf.uncertain_samples) AS uncertain_samples
       FROM windows w
       CROSS JOIN window_functions wf ON wf.window_ref = w.id -- the period's windows drive: never a scan of all history
       JOIN functions f ON f.function_id = wf.function_id
       WHERE ${windowFilter}
       GROUP BY w.service, wf.function_id
       ORDER BY self_us DESC, total_us DESC
       LIMIT @limit`,
    )
    .all(params) as Row[];

  // Hot lines of the chosen functions in one pass over the period's windows
  // (by window, then the (window_ref, function_id) key), never a scan of a function's whole history.
  const hotLines = new Map<string, Map<number, number>>();
  const candidates = new Map<string, Set<string>>();
  if (rows.length > 0) {
    const ids = rows.map((r) => r.function_id);
    const lineRows = db
      .prepare(
        `SELECT w.service, wf.function_id, wf.hot_lines, wf.inline_candidates
         FROM windows w CROSS JOIN window_functions wf ON wf.window_ref = w.id
         WHERE ${windowFilter} AND wf.function_id IN (${ids.map(() => "?").join(",")})`,
      )
      .all(params, ...ids) as Array<{ service: string; function_id: number; hot_lines: string; inline_candidates: string }>;
    for (const { service, function_id, hot_lines, inline_candidates } of lineRows) {
      const key = `${service}\u0000${function_id}`;
      if (inline_candidates !== "[]") {
        let names = candidates.get(key);
        if (!names) candidates.set(key, (names = new Set()));
        for (const name of JSON.parse(inline_candidates) as string[]) if (names.size < MAX_CANDIDATES) names.add(name);
      }
      let lines = hotLines.get(key);
      if (!lines) hotLines.set(key, (lines = new Map()));
      for (const [line, samples] of JSON.parse(hot_lines) as Array<[number, number]>) lines.set(line, (lines.get(line) ?? 0) + samples);
    }
  }
  const cpuUs = totals.cpu_us;
  const functions = rows.map((row): TopFunction => {
    const key = `${row.service}\u0000${row.function_id}`;
    const lines = hotLines.get(key) ?? new Map<number, number>();
    return {
      name: row.name,
      file: row.file_path || row.script_url,
      line: row.line,
      column: row.col,
      package: row.package_name,
      packageVersion: row.package_name ? row.package_version : null,
      scriptUrl: row.script_url,
      service: row.service,
      selfMs: row.self_us / 1_000,
      totalMs: row.total_us / 1_000,
      selfShare: cpuUs > 0 ? row.self_us / cpuUs : 0,
      totalShare: cpuUs > 0 ? Math.min(1, row.total_us / cpuUs) : 0,
      samples: row.self_samples,
      totalSamples: row.total_samples,
      hotLines: [...lines]
        .map(([line, samples]) => ({ line, samples }))
        .sort((a, b) => b.samples - a.samples || a.line - b.line)
        .slice(0, 5),
      inlinedShare: row.self_samples > 0 ? Math.min(1, row.inlined_samples / row.self_samples) : 0,
      uncertainShare: row.self_samples > 0 ? Math.min(1, row.uncertain_samples / row.self_samples) : 0,
      inlineCandidates: [...(candidates.get(key) ?? [])],
      generatedFile: row.generated_file || null,
      generatedLine: row.generated_file ? row.generated_line : null,
      calledBy: row.called_by || null,
    };
  });
  return { sinceMs: query.sinceMs, windows: totals.windows, cpuMs: cpuUs / 1_000, functions };
}
