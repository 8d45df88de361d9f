/**
 * What the NATS integration files share: one private nats-server per file
 * (started before its tests, stopped after), the daemon and analyzer
 * arguments that reach it, and reads of the analyzer's database while it runs.
 */
import Database from "better-sqlite3";
import { afterEach, expect } from "vitest";
import { eventually } from "../eventually.js";
import type { NatsServer, Proc } from "./harness.js";
import { cleanup, seismo, useNatsServer } from "./harness.js";

export interface NatsSuite {
  /** The file's nats-server: tests may stop and start it. */
  server(): NatsServer;
  /** `--nats <url> --nats-token <token>` for a daemon or analyzer. */
  auth(): string[];
  startAnalyzer(db: string, durable: string): Proc;
  /** A daemon on `pid` publishing 1 s windows as `service`. */
  startDaemon(pid: number, service: string, more?: string[]): Proc;
}

/** Registers the file's hooks: its own nats-server, and every process a test started stopped after it. */
export function useNatsSuite(): NatsSuite {
  const nats = useNatsServer();
  afterEach(cleanup);
  return {
    server: () => nats.server,
    auth: nats.auth,
    startAnalyzer: (db, durable) => seismo(["analyzer", ...nats.auth(), "--db", db, "--durable", durable]),
    startDaemon: (pid, service, more = []) => seismo(["daemon", ...nats.auth(), "--pid", String(pid), "--window", "1s", "--service", service, ...more]),
  };
}

/** Stops the daemon, which must end cleanly (exit 0, its goodbye sent), then the analyzer behind it. */
export async function stopDaemonThenAnalyzer(daemon: Proc, analyzer: Proc): Promise<void> {
  daemon.child.kill("SIGTERM");
  expect((await daemon.exited).code, daemon.stderr()).toBe(0);
  analyzer.child.kill("SIGTERM");
  await analyzer.exited;
}

/** What `read` finds in the database, or `absent` while the analyzer has not made it (or its tables) yet. */
export function readDb<T>(db: string, absent: T, read: (conn: Database.Database) => T): T {
  try {
    const conn = new Database(db, { readonly: true, fileMustExist: true });
    try {
      return read(conn);
    } finally {
      conn.close();
    }
  } catch {
    return absent;
  }
}

export function windowsIn(db: string, service: string): number[] {
  return readDb(db, [], (conn) => (conn.prepare("SELECT sequence FROM windows WHERE service = ? ORDER BY sequence").all(service) as Array<{ sequence: number }>).map((r) => r.sequence));
}

export function waitForWindows(db: string, service: string, count: number, timeoutMs = 25_000): Promise<number[]> {
  let seqs: number[] = [];
  return eventually(
    () => {
      seqs = windowsIn(db, service);
      return seqs.length >= count && seqs;
    },
    { timeoutMs, everyMs: 250, explain: () => `only ${seqs.length} window(s) of ${service} arrived in ${db}` },
  );
}

export function endReason(db: string, service: string): string | undefined {
  return readDb(db, undefined, (conn) => (conn.prepare("SELECT end_reason FROM targets WHERE service = ?").get(service) as { end_reason: string | null } | undefined)?.end_reason ?? undefined);
}

export function lastWindowEnd(db: string, service: string): number {
  return readDb(db, 0, (conn) => (conn.prepare("SELECT MAX(end_ms) AS lastEnd FROM windows WHERE service = ?").get(service) as { lastEnd: number | null }).lastEnd ?? 0);
}
