import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { ErrorCodes, SeismoError } from "@seismo/agent-proto";
import Database from "better-sqlite3";
import { LATEST_SCHEMA_VERSION, MIGRATIONS } from "./migrations.js";

export type Db = Database.Database;

/** A SQLite failure as a typed error naming the file, with what to do for the usual causes. */
export function databaseError(path: string, cause: unknown): SeismoError {
  const code = (cause as { code?: string }).code ?? "";
  const hint =
    code === "SQLITE_FULL"
      ? "The disk is full: free space or point --db elsewhere."
      : code === "SQLITE_CANTOPEN" || code === "SQLITE_READONLY"
        ? "Check that the directory exists and is writable by this user."
        : code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT"
          ? "The file is not a Seismo database (or is damaged): point --db at another path."
          : undefined;
  return new SeismoError(ErrorCodes.DATABASE, `Cannot use the database ${path}: ${(cause as Error).message}.`, {
    cause,
    ...(hint ? { hint } : {}),
  });
}

/** Opens (creating if needed) the analyzer's database and brings its schema up to date. */
export function openDatabase(path: string): Db {
  const full = resolve(path);
  let db: Db;
  try {
    mkdirSync(dirname(full), { recursive: true });
    const created = !existsSync(full);
    db = new Database(full);
    // Function names and paths of production code: readable by this user only. SQLite gives
    // its -wal and -shm files the database file's mode.
    if (created) chmodSync(full, 0o600);
    // First, so that a second process opening the same new file (two `seismo run` beside each
    // other) waits for the first one's lock rather than failing.
    db.pragma("busy_timeout = 5000");
    useWal(db);
    db.pragma("synchronous = NORMAL");
    db.pragma("foreign_keys = ON");
    migrate(db);
  } catch (cause) {
    if (cause instanceof SeismoError) throw cause;
    throw databaseError(full, cause);
  }
  return db;
}

/**
 * Switches a database to WAL. The switch takes an exclusive lock, and SQLite answers "database is
 * locked" at once, without the busy timeout, when another process holds one just then (six
 * processes opening one new file: 2 of 30 rounds here). So it is tried again, 20 ms apart, for as
 * long as the busy timeout would have waited. Nothing to do once the file is WAL already.
 */
function useWal(db: Db, waitMs = 5_000): void {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      if (String(db.pragma("journal_mode", { simple: true })).toLowerCase() === "wal") return;
      // (It answers the mode it is in after: not "wal" when it could not switch.)
      if (String(db.pragma("journal_mode = WAL", { simple: true })).toLowerCase() === "wal") return;
      if (Date.now() > deadline) throw new Error("the database could not be switched to WAL: another process keeps it in use");
    } catch (error) {
      if ((error as { code?: string }).code !== "SQLITE_BUSY" || Date.now() > deadline) throw error;
    }
    Atomics.wait(pause, 0, 0, 20);
  }
}

/** Opens an existing database for queries only: `seismo top` never writes, and never creates a file. */
export function openDatabaseReadOnly(path: string): Db {
  const full = resolve(path);
  if (!existsSync(full)) {
    throw new SeismoError(ErrorCodes.DATABASE, `No Seismo database at ${full}.`, {
      hint: "Run `seismo run -- node app.js` or `seismo attach <pid>` first, or give --db (or SEISMO_DB).",
    });
  }
  try {
    const db = new Database(full, { readonly: true, fileMustExist: true });
    db.pragma("busy_timeout = 5000");
    const version = schemaVersion(db);
    if (version > LATEST_SCHEMA_VERSION) throw tooNew(full, version);
    if (version === 0) throw new SeismoError(ErrorCodes.DATABASE, `${full} holds no Seismo data yet.`);
    return db;
  } catch (cause) {
    if (cause instanceof SeismoError) throw cause;
    throw databaseError(full, cause);
  }
}

function tooNew(path: string, version: number): SeismoError {
  return new SeismoError(
    ErrorCodes.DATABASE_TOO_NEW,
    `${path} has schema version ${version}, newer than this Seismo understands (${LATEST_SCHEMA_VERSION}).`,
    { hint: "Upgrade Seismo, or use another --db." },
  );
}

function schemaVersion(db: Db): number {
  const exists = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
  if (!exists) return 0;
  const row = db.prepare("SELECT MAX(version) AS version FROM schema_migrations").get() as { version: number | null };
  return row.version ?? 0;
}

/**
 * Brings the schema up to date in one write transaction, taken before the version is read: two
 * processes opening the same file at once must not both see version 0 and both create the tables
 * (the second failed with "table targets already exists"). The second waits (busy_timeout), then
 * finds the work done.
 */
export function migrate(db: Db): void {
  db.transaction(() => {
    db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms INTEGER NOT NULL)");
    const current = schemaVersion(db);
    if (current > LATEST_SCHEMA_VERSION) throw tooNew(db.name, current);
    for (const migration of MIGRATIONS) {
      if (migration.version <= current) continue;
      db.exec(typeof migration.sql === "string" ? migration.sql : migration.sql(db));
      db.prepare("INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?, ?, ?)").run(
        migration.version,
        migration.name,
        Date.now(),
      );
    }
  }).immediate();
}
