import type Database from "better-sqlite3";

/**
 * Forward-only schema migrations. Each runs once, in order, inside a
 * transaction; a shipped migration is never edited, only followed by another
 * (test/store.test.ts pins each one's text by hash).
 */
export interface Migration {
  version: number;
  name: string;
  /** The statements, or, for a repair that depends on what an older build left, the statements for this database. */
  sql: string | ((db: Database.Database) => string);
}

/**
 * window_endpoints' columns as migration 8 defines them (part of its shipped text, pinned by
 * hash: never edit); migration 10 rebuilds an older shape into this.
 */
const WINDOW_ENDPOINTS_COLUMNS = `
        window_ref INTEGER NOT NULL REFERENCES windows(id) ON DELETE CASCADE,
        direction TEXT NOT NULL CHECK (direction IN ('in', 'out', 'db')),
        host TEXT NOT NULL,
        method TEXT NOT NULL,
        route TEXT NOT NULL,
        status INTEGER NOT NULL,
        -- 1 when route is the framework's template, 0 when normalized from the path
        route_template INTEGER NOT NULL,
        count INTEGER NOT NULL,
        total_ms REAL NOT NULL,
        max_ms REAL NOT NULL,
        -- JSON [[bucket, count], ...]: the latency histogram (agent-proto latency.ts)
        buckets TEXT NOT NULL,
        -- Under heavy traffic one request in this many was timed; the figures are scaled up by it
        sampled_every INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (window_ref, direction, host, method, route, status)`;

/**
 * Migration 8 was edited three times after it was written (outgoing calls, database queries,
 * sampling), against the rule above: a database made by a build in between reports version 8
 * without the later columns, or with a CHECK that refuses database rows. Such a table is rebuilt
 * (the SQLite way: new table, copy, drop, rename), the missing columns at their meaning then:
 * every row an endpoint ('in', host ''), every request timed (sampled_every 1). A table of the
 * final shape is left as it is.
 */
function repairWindowEndpoints(db: Database.Database): string {
  const row = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'window_endpoints'").get() as { sql: string } | undefined;
  if (!row) return `CREATE TABLE window_endpoints (${WINDOW_ENDPOINTS_COLUMNS}\n      ) WITHOUT ROWID;`;
  const columns = new Set((db.prepare("SELECT name FROM pragma_table_info('window_endpoints')").all() as { name: string }[]).map((c) => c.name));
  const current = columns.has("direction") && columns.has("host") && columns.has("sampled_every") && row.sql.includes("'db'");
  if (current) return "";
  const copied = ["window_ref", "method", "route", "status", "route_template", "count", "total_ms", "max_ms", "buckets"];
  const direction = columns.has("direction") ? "direction" : "'in'";
  const host = columns.has("host") ? "host" : "''";
  const sampledEvery = columns.has("sampled_every") ? "sampled_every" : "1";
  return `
      CREATE TABLE window_endpoints_repaired (${WINDOW_ENDPOINTS_COLUMNS}
      ) WITHOUT ROWID;
      INSERT INTO window_endpoints_repaired (${copied.join(", ")}, direction, host, sampled_every)
        SELECT ${copied.join(", ")}, ${direction}, ${host}, ${sampledEvery} FROM window_endpoints;
      DROP TABLE window_endpoints;
      ALTER TABLE window_endpoints_repaired RENAME TO window_endpoints;
    `;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "targets, functions, profile windows",
    sql: `
      CREATE TABLE targets (
        target_id TEXT PRIMARY KEY,
        daemon_id TEXT NOT NULL,
        service TEXT NOT NULL,
        deployment TEXT NOT NULL DEFAULT '',
        pid INTEGER NOT NULL,
        host TEXT NOT NULL DEFAULT '',
        pod TEXT NOT NULL DEFAULT '',
        namespace TEXT NOT NULL DEFAULT '',
        node_version TEXT NOT NULL DEFAULT '',
        v8_version TEXT NOT NULL DEFAULT '',
        argv TEXT NOT NULL DEFAULT '[]',
        seismo_version TEXT NOT NULL DEFAULT '',
        process_start_ms INTEGER NOT NULL DEFAULT 0,
        attached_at_ms INTEGER,
        sampling_interval_us INTEGER,
        window_ms INTEGER,
        last_seen_ms INTEGER NOT NULL,
        ended_at_ms INTEGER,
        end_reason TEXT,
        target_cpu REAL,
        target_rss_bytes INTEGER,
        windows_published INTEGER,
        publish_failures INTEGER,
        messages_dropped INTEGER
      );
      CREATE INDEX targets_by_service ON targets(service, last_seen_ms);

      -- One row per distinct function (where it is declared, in which package version).
      CREATE TABLE functions (
        function_id INTEGER PRIMARY KEY,
        identity TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        script_url TEXT NOT NULL,
        file_path TEXT NOT NULL,
        line INTEGER NOT NULL,
        col INTEGER NOT NULL,
        package_name TEXT,
        package_version TEXT
      );

      CREATE TABLE windows (
        id INTEGER PRIMARY KEY,
        window_id TEXT NOT NULL UNIQUE,
        target_id TEXT NOT NULL REFERENCES targets(target_id),
        service TEXT NOT NULL,
        deployment TEXT NOT NULL,
        sequence INTEGER NOT NULL,
        start_ms INTEGER NOT NULL,
        end_ms INTEGER NOT NULL,
        sampling_interval_us INTEGER NOT NULL,
        total_samples INTEGER NOT NULL,
        cpu_us INTEGER NOT NULL,
        idle_us INTEGER NOT NULL,
        gc_us INTEGER NOT NULL,
        program_us INTEGER NOT NULL,
        truncated_functions INTEGER NOT NULL,
        received_at_ms INTEGER NOT NULL
      );
      CREATE INDEX windows_by_end ON windows(end_ms);
      CREATE INDEX windows_by_service_end ON windows(service, end_ms);

      CREATE TABLE window_functions (
        window_ref INTEGER NOT NULL REFERENCES windows(id) ON DELETE CASCADE,
        function_id INTEGER NOT NULL REFERENCES functions(function_id),
        self_samples INTEGER NOT NULL,
        total_samples INTEGER NOT NULL,
        self_us INTEGER NOT NULL,
        total_us INTEGER NOT NULL,
        -- JSON [[line, samples], ...], hottest first
        hot_lines TEXT NOT NULL,
        PRIMARY KEY (window_ref, function_id)
      ) WITHOUT ROWID;
      CREATE INDEX window_functions_by_function ON window_functions(function_id);

      -- Messages that could not be read, kept (bounded) for diagnosis.
      CREATE TABLE rejected_messages (
        id INTEGER PRIMARY KEY,
        received_at_ms INTEGER NOT NULL,
        subject TEXT NOT NULL,
        code TEXT NOT NULL,
        reason TEXT NOT NULL,
        size INTEGER NOT NULL,
        head BLOB NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: "sensor time per window",
    sql: "ALTER TABLE windows ADD COLUMN sensor_us INTEGER NOT NULL DEFAULT 0;",
  },
  {
    version: 3,
    name: "windows by target",
    sql: "CREATE INDEX windows_by_target ON windows(target_id, end_ms);",
  },
  {
    version: 4,
    name: "spikes and incidents",
    sql: `
      -- One row per spike a daemon saw, with its burst profile (gzipped JSON of the BurstProfile).
      CREATE TABLE spikes (
        spike_id TEXT PRIMARY KEY,
        target_id TEXT NOT NULL,
        service TEXT NOT NULL,
        deployment TEXT NOT NULL,
        trigger TEXT NOT NULL,
        onset_ms INTEGER NOT NULL,
        detected_ms INTEGER NOT NULL,
        burst_start_ms INTEGER NOT NULL,
        burst_end_ms INTEGER NOT NULL,
        ended_ms INTEGER,
        peak_cpu REAL NOT NULL,
        baseline_cpu REAL NOT NULL,
        peak_loop_delay_ms REAL NOT NULL,
        baseline_loop_delay_ms REAL NOT NULL,
        max_stall_ms REAL NOT NULL,
        sampling_interval_us INTEGER NOT NULL,
        profile BLOB,
        burst_error TEXT NOT NULL DEFAULT '',
        -- 'incident' or 'ordinary' (same shape as normal), with the reason; NULL without a profile.
        verdict TEXT,
        verdict_reason TEXT,
        received_at_ms INTEGER NOT NULL
      );
      CREATE INDEX spikes_by_onset ON spikes(onset_ms);

      -- Every kind of incident (cpu_spike now; regressions and errors later) in one shape.
      CREATE TABLE incidents (
        incident_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        service TEXT NOT NULL,
        deployment TEXT NOT NULL DEFAULT '',
        target_id TEXT,
        started_at_ms INTEGER NOT NULL,
        ended_at_ms INTEGER,
        summary TEXT NOT NULL,
        -- JSON array, most responsible first
        culprits TEXT NOT NULL,
        -- JSON object, by kind (cpu_spike: trigger, peaks, top stacks, analysis figures)
        details TEXT NOT NULL,
        -- The record it came from: spikes.spike_id for cpu_spike.
        source_id TEXT,
        created_at_ms INTEGER NOT NULL
      );
      CREATE INDEX incidents_by_start ON incidents(started_at_ms);
      CREATE UNIQUE INDEX incidents_by_source ON incidents(kind, source_id);
    `,
  },
  {
    version: 5,
    name: "alerts",
    sql: `
      -- One row per incident that could alert: at most one alert per incident, ever.
      CREATE TABLE alerts (
        incident_id TEXT PRIMARY KEY,
        -- Service, kind and top culprit: a second incident with the same key within the cool-down is suppressed.
        cooldown_key TEXT NOT NULL,
        -- 'pending', 'sent', 'failed' or 'suppressed'
        status TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        attempts INTEGER NOT NULL DEFAULT 0,
        created_at_ms INTEGER NOT NULL,
        sent_at_ms INTEGER
      );
      CREATE INDEX alerts_by_key ON alerts(cooldown_key, created_at_ms);
    `,
  },
  {
    version: 6,
    name: "snapshots",
    sql: `
      -- Forensic captures: a function's values at one moment, already cut and redacted by the daemon.
      CREATE TABLE snapshots (
        -- "<probe_id>:<hit>": a redelivered snapshot is stored once.
        snapshot_id TEXT PRIMARY KEY,
        probe_id TEXT NOT NULL,
        target_id TEXT NOT NULL,
        service TEXT NOT NULL,
        deployment TEXT NOT NULL,
        -- An incident id, or 'manual'.
        trigger TEXT NOT NULL,
        file TEXT NOT NULL,
        line INTEGER NOT NULL,
        column_number INTEGER NOT NULL,
        function_name TEXT NOT NULL,
        captured_at_ms INTEGER NOT NULL,
        hit INTEGER NOT NULL,
        last INTEGER NOT NULL,
        -- JSON: the stack (array of frames), the locals (array of values), this (a value or null).
        stack TEXT NOT NULL,
        locals TEXT NOT NULL,
        this_value TEXT,
        capture_cost_us INTEGER NOT NULL,
        received_at_ms INTEGER NOT NULL
      );
      CREATE INDEX snapshots_by_trigger ON snapshots(trigger, captured_at_ms);
      CREATE INDEX snapshots_by_time ON snapshots(captured_at_ms);
    `,
  },
  {
    version: 7,
    name: "snapshot errors",
    sql: `
      -- "<class>: <message>" when an exception armed the capture (trigger 'error:<fingerprint>').
      ALTER TABLE snapshots ADD COLUMN error TEXT NOT NULL DEFAULT '';
    `,
  },
  {
    version: 8,
    name: "endpoints",
    sql: `
      -- HTTP requests a target answered ('in'), calls it made ('out') and database queries it ran
      -- ('db') in a window, per method, host (the destination or database; '' for endpoints),
      -- route (the statement digest for queries) and status (0 ok, 1 failed for queries).
      CREATE TABLE window_endpoints (${WINDOW_ENDPOINTS_COLUMNS}
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 9,
    name: "inlined attribution, source maps, callers of natives",
    sql: `
      -- Seismo's inference, not V8's (daemon attribution/deinline.ts): self samples the daemon moved
      -- to this function from the caller V8 charged them to (its code was inlined there), and self
      -- samples left on it that may be inlined code of inline_candidates (JSON ["name (file:line)"]).
      ALTER TABLE window_functions ADD COLUMN inlined_samples INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE window_functions ADD COLUMN uncertain_samples INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE window_functions ADD COLUMN inline_candidates TEXT NOT NULL DEFAULT '[]';
      -- When a source map placed the function at its original file (the row's file and line): where
      -- V8 last ran it, in the generated file (dist/*.js, a bundle); '' and 0 without a map.
      ALTER TABLE functions ADD COLUMN generated_file TEXT NOT NULL DEFAULT '';
      ALTER TABLE functions ADD COLUMN generated_line INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE functions ADD COLUMN generated_column INTEGER NOT NULL DEFAULT 0;
      -- For a native function (writev, stat): "name (file:line)" of the JavaScript function that
      -- called it; one row per caller. '' for JavaScript functions.
      ALTER TABLE functions ADD COLUMN called_by TEXT NOT NULL DEFAULT '';
    `,
  },
  {
    version: 10,
    name: "window_endpoints as migration 8 ends",
    sql: repairWindowEndpoints,
  },
  {
    version: 11,
    name: "what the sensor did with the inspector",
    sql: `
      -- From the goodbye: what the sensor did with the target's inspector (closed the one it had
      -- opened, left it as found...), and whether that is a warning (left open; or closing it cut
      -- off a debugger that was not Seismo's).
      ALTER TABLE targets ADD COLUMN end_detail TEXT NOT NULL DEFAULT '';
      ALTER TABLE targets ADD COLUMN inspector_warning INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 12,
    name: "kept requests",
    sql: `
      -- Served requests that failed or were slow, with what they did (RequestExemplar events).
      -- id: "req-" and a hash of request_id (the daemon's "<target_id>:request:<start>-<n>").
      CREATE TABLE requests (
        id TEXT PRIMARY KEY,
        request_id TEXT NOT NULL UNIQUE,
        target_id TEXT NOT NULL,
        service TEXT NOT NULL,
        deployment TEXT NOT NULL,
        started_at_ms INTEGER NOT NULL,
        method TEXT NOT NULL,
        route TEXT NOT NULL,
        route_template INTEGER NOT NULL,
        status INTEGER NOT NULL,
        duration_ms REAL NOT NULL,
        -- 'error' (the framework handled one), 'status' (a 5xx), 'slow'.
        kept_because TEXT NOT NULL,
        slow_threshold_ms REAL NOT NULL,
        error_type TEXT NOT NULL,
        error_message TEXT NOT NULL,
        steps_left_out INTEGER NOT NULL,
        -- JSON: params, query, headers, body (captured values or null), steps (queries and
        -- calls), error (type, message, code, stack, appFrame, handledBy, or null).
        detail TEXT NOT NULL,
        received_at_ms INTEGER NOT NULL
      );
      CREATE INDEX requests_by_time ON requests(started_at_ms);
      CREATE INDEX requests_by_route ON requests(service, route, started_at_ms);
      -- Failed or slow requests a window's rate limits left out (not kept as exemplars).
      ALTER TABLE windows ADD COLUMN requests_not_kept INTEGER NOT NULL DEFAULT 0;
    `,
  },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS.at(-1)?.version ?? 0;
