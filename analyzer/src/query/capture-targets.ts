import { ErrorCodes, SeismoError } from "@seismo/agent-proto";
import type { Db } from "../store/database.js";

/**
 * What `seismo capture` asks the database: which live processes to arm, and which file a
 * function or a typed path means, as the processes see it.
 */

export interface LiveTarget {
  targetId: string;
  daemonId: string;
  pid: number;
  host: string;
  pod: string;
  service: string;
  deployment: string;
  /** When the process started (unix ms), to tell it from a later process that got its pid. */
  processStartMs: number;
}

/** A target that sent anything this recently counts as live. */
export const LIVE_WITHIN_MS = 120_000;
/** At most this many replicas are armed at once. */
const MAX_TARGETS = 10;

const LIVE_COLUMNS = `t.target_id AS targetId, t.daemon_id AS daemonId, t.pid, t.host, t.pod, t.service, t.deployment, t.process_start_ms AS processStartMs`;

/** The live targets of a service (or the one named), most recently seen first; NOT_FOUND when there is none. */
export function liveTargets(db: Db, selector: { service?: string | undefined; targetId?: string | undefined }, nowMs = Date.now()): LiveTarget[] {
  const rows = db
    .prepare(
      `SELECT ${LIVE_COLUMNS} FROM targets t
       WHERE (@service IS NULL OR t.service = @service) AND (@target IS NULL OR t.target_id = @target)
         AND t.ended_at_ms IS NULL AND t.last_seen_ms >= @since
       ORDER BY t.last_seen_ms DESC LIMIT @limit`,
    )
    .all({ service: selector.service ?? null, target: selector.targetId ?? null, since: nowMs - LIVE_WITHIN_MS, limit: MAX_TARGETS }) as LiveTarget[];
  if (rows.length === 0) {
    const what = selector.targetId ? `target ${selector.targetId}` : `service "${selector.service ?? ""}"`;
    throw new SeismoError(ErrorCodes.NOT_FOUND, `No live process of ${what} in the database (none seen in the last ${LIVE_WITHIN_MS / 60_000} minutes).`, {
      hint: "Check `seismo targets --db PATH` for the services and targets the analyzer hears from.",
    });
  }
  return rows;
}

/**
 * The live targets on `host` whose profiles ran the function (by name, in `file` when given)
 * or, for a line, any function of `file`: the processes `seismo capture` can arm without --pid.
 */
export function liveTargetsRunning(db: Db, where: { file?: string; functionName?: string }, host: string, nowMs = Date.now()): LiveTarget[] {
  return db
    .prepare(
      `SELECT ${LIVE_COLUMNS} FROM targets t
       WHERE t.host = @host AND t.ended_at_ms IS NULL AND t.last_seen_ms >= @since
         AND EXISTS (
           SELECT 1 FROM windows w
           JOIN window_functions wf ON wf.window_ref = w.id
           JOIN functions f ON f.function_id = wf.function_id
           WHERE w.target_id = t.target_id
             AND (@name IS NULL OR f.name = @name) AND (@file IS NULL OR f.file_path = @file))
       ORDER BY t.last_seen_ms DESC LIMIT @limit`,
    )
    .all({ host, since: nowMs - LIVE_WITHIN_MS, name: where.functionName ?? null, file: where.file ?? null, limit: MAX_TARGETS }) as LiveTarget[];
}

/** The service and deployment the database last knew a process by, when it knew it. */
export function knownTargetOf(db: Db, pid: number): { service: string; deployment: string } | undefined {
  return db.prepare("SELECT service, deployment FROM targets WHERE pid = ? ORDER BY last_seen_ms DESC LIMIT 1").get(pid) as { service: string; deployment: string } | undefined;
}

/** The one app file (outside node_modules) the profiles place a function in; NOT_FOUND when none or several. */
export function fileOfFunction(db: Db, name: string): string {
  const files = (
    db.prepare("SELECT DISTINCT file_path FROM functions WHERE name = ? AND file_path != '' AND file_path NOT LIKE '%/node_modules/%'").all(name) as Array<{
      file_path: string;
    }>
  ).map((r) => r.file_path);
  if (files.length === 1) return files[0] as string;
  throw new SeismoError(
    ErrorCodes.NOT_FOUND,
    files.length === 0 ? `No function "${name}" in the database's profiles.` : `"${name}" is declared in several files: ${files.join(", ")}.`,
    { hint: `Give the file too: seismo capture ${name}@path/to/file.js` },
  );
}

/** Every file the database knows the processes by: those in profiles, and the scripts they were started with. */
function knownFiles(db: Db): Set<string> {
  const files = new Set((db.prepare("SELECT DISTINCT file_path FROM functions WHERE file_path != ''").all() as Array<{ file_path: string }>).map((r) => r.file_path));
  for (const { argv } of db.prepare("SELECT DISTINCT argv FROM targets").all() as Array<{ argv: string }>) {
    try {
      for (const arg of JSON.parse(argv) as unknown[]) if (typeof arg === "string" && /^\/.*\.[cm]?[jt]s$/.test(arg)) files.add(arg);
    } catch {
      // an unreadable argv names no file
    }
  }
  return files;
}

/**
 * A file as the targets see it, from what the user typed: an absolute path as it is; a relative
 * one by the one file the database knows (see knownFiles) whose path ends with it.
 */
export function targetFile(db: Db, file: string): string {
  if (file.startsWith("/")) return file;
  const suffix = `/${file.replace(/^\.\//, "")}`;
  const files = [...knownFiles(db)].filter((path) => path.endsWith(suffix));
  if (files.length === 1) return files[0] as string;
  throw new SeismoError(
    ErrorCodes.NOT_FOUND,
    files.length === 0 ? `No file ending in ${suffix} in the database's profiles or the processes' command lines.` : `Several files end in ${suffix}: ${files.join(", ")}.`,
    { hint: "Give the file's absolute path inside the app's container (as `seismo top` shows it)." },
  );
}
