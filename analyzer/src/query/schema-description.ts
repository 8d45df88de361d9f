import Database from "better-sqlite3";
import type { Db } from "../store/database.js";
import { migrate } from "../store/database.js";

/**
 * What SQL cannot say about Seismo's tables: what each is for, and what its coded and JSON
 * columns hold. The columns themselves come from the schema (describeSchema), so a column
 * added by a migration is listed even before anyone writes a note for it.
 */
export const TABLE_NOTES: Readonly<Record<string, { about: string; columns?: Readonly<Record<string, string>> }>> = {
  targets: {
    about: "one attach session of one process (a restart or re-attach is a new target)",
    columns: { end_reason: "'DAEMON_STOPPED'|'TARGET_EXITED'|'CONNECTION_LOST'", target_cpu: "cores, from the last heartbeat", argv: "JSON array, secrets redacted" },
  },
  functions: {
    about: "one row per function identity (where it is declared, in which package version)",
    columns: {
      file_path: "'' for built-ins; the original source when a source map placed it",
      line: "1-based",
      generated_file: "where V8 ran it when a source map placed it elsewhere ('' without a map)",
      called_by: "for a native function: 'name (file:line)' of the JavaScript that called it; '' otherwise",
    },
  },
  windows: {
    about: "one profile window of one target",
    columns: {
      cpu_us: "CPU time the process used in the window",
      sensor_us: "Seismo's own share, already out of cpu_us",
      requests_not_kept: "failed or slow requests the rate limits left out of `requests` in the window",
    },
  },
  window_functions: {
    about: "a function's samples in one window",
    columns: {
      window_ref: "→ windows.id",
      function_id: "→ functions.function_id",
      hot_lines: "JSON [[line, samples], ...], hottest first",
      inlined_samples: "self samples Seismo moved to this function from the caller V8 charged them to (inferred, not V8's)",
      uncertain_samples: "self samples that may be inlined code of inline_candidates (uncertain)",
      inline_candidates: 'JSON ["name (file:line)", ...]',
    },
  },
  window_endpoints: {
    about: "HTTP requests served, HTTP calls made and database queries run, per window",
    columns: {
      window_ref: "→ windows.id",
      direction: "'in' requests the target served, 'out' HTTP calls it made, 'db' database queries: always filter on it",
      host: "'' for 'in'; the destination host[:port] for 'out'; the database for 'db'",
      route: "the route template or normalized path; for 'db' the statement digest (no values)",
      status: "HTTP status ('out': 0 for a call that failed without a response); for 'db' 0 ok, 1 failed",
      route_template: "1 when the route is the framework's template",
      count: "already scaled up by sampled_every",
      buckets: "JSON [[bucket, count], ...]: log-scale latency histogram",
      sampled_every: "one request in this many was timed (1: every one)",
    },
  },
  spikes: { about: "a CPU spike the daemon saw, with its burst profile", columns: { profile: "the burst profile (large JSON: select it only for one spike)", verdict: "what the analyzer concluded: incident (paged), load (more of the usual requests at the usual cost each: context, never a page), ordinary (the usual profile shape) or pending (no busy window before it; judged against the ones that follow)" } },
  incidents: {
    about: "what Seismo detected",
    columns: { kind: "'cpu_spike'|'regression'", culprits: "JSON array, main culprit first", details: "JSON: the evidence" },
  },
  alerts: { about: "webhook deliveries of incidents", columns: { status: "'pending'|'sent'|'failed'|'suppressed'" } },
  snapshots: {
    about: "captured values of a function's calls",
    columns: { trigger: "an incident id, 'manual' or 'error:<fingerprint>'", locals: "JSON tree of captured values, secrets redacted", stack: "JSON array of frames" },
  },
  requests: {
    about: "served requests that failed or were slow, one row each, with their queries, calls and error (a few a minute per route at most)",
    columns: {
      id: "'req-…': what `seismo show` and get_request take",
      kept_because: "'error' (the framework handled an error), 'status' (a 5xx), 'slow' (over slow_threshold_ms), 'aborted' (its connection closed before its response ended; status 0: no headers sent)",
      route: "the framework's template when route_template = 1, else the path with ids as ':id'",
      detail: "JSON {params, query, headers, body (captured-value trees, redacted), steps [{kind 'query'|'call', offsetMs, durationMs (-1: unfinished), statement, database, method, host, path, status, rows (-1: unknown), errorCode, errorMessage}], error {type, message, code, stack, appFrame, handledBy} or null}",
    },
  },
  rejected_messages: { about: "messages the analyzer could not use (bounded copy)" },
};

/** Tables an agent's SQL has no use for. */
const HIDDEN = new Set(["schema_migrations"]);

/**
 * The schema as an agent's SQL needs it: every table with every column, as `db` has them (by
 * default the schema this Seismo writes), each with its note.
 */
export function describeSchema(db?: Db): string {
  const own = db ? undefined : new Database(":memory:");
  const source = db ?? (own as Db);
  try {
    if (own) migrate(own);
    const tables = (source.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid").all() as Array<{ name: string }>)
      .map((t) => t.name)
      .filter((name) => !HIDDEN.has(name));
    const lines = ["Tables (times are unix ms, durations µs or ms as named; shares are computed, not stored):"];
    for (const table of tables) {
      const note = TABLE_NOTES[table];
      const columns = (source.prepare("SELECT name FROM pragma_table_info(?)").all(table) as Array<{ name: string }>).map((c) => {
        const said = note?.columns?.[c.name];
        return said ? `${c.name} (${said})` : c.name;
      });
      lines.push(`- ${table}(${columns.join(", ")})${note ? `: ${note.about}` : ""}`);
    }
    lines.push("A function's CPU share in a period: SUM(window_functions.self_us) / SUM(windows.cpu_us) over the period's windows.");
    return lines.join("\n");
  } finally {
    own?.close();
  }
}
