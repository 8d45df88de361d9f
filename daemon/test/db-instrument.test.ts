import { createRequire } from "node:module";
import { runInThisContext } from "node:vm";
import type PgModule from "pg";
import type MysqlPromise from "mysql2/promise";
import type MysqlCallbacks from "mysql2";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { IN_TARGET_KEYS } from "../src/in-target/keys.js";
import { DB_INSTRUMENT_READ, DB_INSTRUMENT_REMOVE, dbInstrumentInstall, DEFAULT_DB_INSTRUMENT_SETTINGS } from "../src/instruments/db-instrument.js";
import { parseInstrumentEntries } from "../src/instruments/http-instrument.js";
import { requireDatabases } from "../../test/databases.js";

// Real drivers against the machine's real PostgreSQL and MariaDB (README, "Developing"). Loaded
// with require so that they sit in the module cache, where the instrument looks for pg, as in an app.
const require = createRequire(import.meta.url);
const pg = require("pg") as typeof PgModule;
const mysql = require("mysql2/promise") as typeof MysqlPromise;
const mysqlCallbacks = require("mysql2") as typeof MysqlCallbacks;

/** The in-target script runs here, in this process. */
const inThisProcess = (expression: string): unknown => runInThisContext(expression);
const read = () => parseInstrumentEntries(inThisProcess(DB_INSTRUMENT_READ));

beforeAll(requireDatabases);
afterEach(() => {
  inThisProcess(DB_INSTRUMENT_REMOVE);
});

describe("the database instrument's in-target script", () => {
  it("times pg queries per statement digest, promise and callback alike, with no value in the digest; failures count apart; removal puts pg back", async () => {
    const original = pg.Client.prototype.query;
    expect(inThisProcess(dbInstrumentInstall(DEFAULT_DB_INSTRUMENT_SETTINGS))).toBe("installed");
    expect(pg.Client.prototype.query).not.toBe(original);
    const client = new pg.Client({ host: "127.0.0.1", port: 5432, user: "postgres", database: "test" });
    await client.connect();
    try {
      for (let i = 0; i < 3; i++) await client.query("SELECT $1::int + 1 AS n", [i]);
      await client.query("SELECT 'hunter2' AS password, 42 AS answer, pg_sleep(0.02)");
      await new Promise<void>((resolve, reject) => client.query("SELECT 7 IN (1, 2, 3)", (error) => (error ? reject(error) : resolve())));
      await expect(client.query("SELECT * FROM no_such_table_seismo")).rejects.toThrow(/does not exist/);
      const pool = new pg.Pool({ host: "127.0.0.1", user: "postgres", database: "test" });
      await pool.query("SELECT $1::text AS t", ["x"]);
      await pool.end();
    } finally {
      await client.end();
    }
    const stats = read();
    const byKey = new Map(stats.map((s) => [`${s.status} ${s.route}`, s]));
    expect([...byKey.keys()].sort()).toEqual(
      ["0 SELECT $1::int + ? AS n", "0 SELECT ? AS password, ? AS answer, pg_sleep(?)", "0 SELECT ? IN (?)", "0 SELECT $1::text AS t", "1 SELECT * FROM no_such_table_seismo"].sort(),
    );
    expect(byKey.get("0 SELECT $1::int + ? AS n")).toMatchObject({ method: "SELECT", count: 3, host: "postgresql://127.0.0.1:5432/test" });
    expect(byKey.get("0 SELECT ? AS password, ? AS answer, pg_sleep(?)")?.maxMs).toBeGreaterThanOrEqual(19);
    expect(JSON.stringify(stats)).not.toMatch(/hunter2/);
    expect(stats.map((s) => s.route).join(" ")).not.toMatch(/42/);
    inThisProcess(DB_INSTRUMENT_REMOVE);
    expect(pg.Client.prototype.query).toBe(original);
  });

  it("times mysql2 queries through its tracing channels, promise and callback APIs, failures apart", async () => {
    inThisProcess(dbInstrumentInstall(DEFAULT_DB_INSTRUMENT_SETTINGS));
    const connection = await mysql.createConnection({ host: "127.0.0.1", port: 3306, user: "root", database: "test" });
    try {
      await connection.query("SELECT 1 + ? AS n", [2]);
      await connection.query("SELECT 'hunter2' AS password, SLEEP(0.02)");
      await connection.execute("SELECT ? AS x", ["y"]);
      await expect(connection.query("SELECT * FROM no_such_table_seismo")).rejects.toThrow(/doesn't exist/);
    } finally {
      await connection.end();
    }
    const callbacks = mysqlCallbacks.createConnection({ host: "127.0.0.1", user: "root", database: "test" });
    await new Promise<void>((resolve, reject) => callbacks.query("SELECT 2 AS two", (error) => (error ? reject(error) : resolve())));
    await new Promise<void>((resolve) => callbacks.end(() => resolve()));
    const stats = read();
    const byKey = new Map(stats.map((s) => [`${s.status} ${s.route}`, s]));
    // mysql2 inlines values before the channel sees the statement: the digest takes them out again.
    expect([...byKey.keys()].sort()).toEqual(["0 SELECT ? + ? AS n", "0 SELECT ? AS password, SLEEP(?)", "0 SELECT ? AS x", "0 SELECT ? AS two", "1 SELECT * FROM no_such_table_seismo"].sort());
    expect(byKey.get("0 SELECT ? AS password, SLEEP(?)")).toMatchObject({ host: "mysql://127.0.0.1:3306/test", count: 1 });
    expect(byKey.get("0 SELECT ? AS password, SLEEP(?)")?.maxMs).toBeGreaterThanOrEqual(19);
    expect(JSON.stringify(stats)).not.toMatch(/hunter2/);
  });

  it("digests statements: comments, strings with quotes, numbers, hex, IN lists and multi-row VALUES; placeholders kept", () => {
    inThisProcess(dbInstrumentInstall(DEFAULT_DB_INSTRUMENT_SETTINGS));
    const digest = (sql: string): string => (globalThis as unknown as Record<symbol, { digest(s: string): string }>)[Symbol.for(IN_TARGET_KEYS.dbInstrument)]!.digest(sql);
    expect(digest("SELECT /* hint */ * FROM t WHERE a = 'it''s' AND b = 3.5e2 -- trailing\n AND c = x'ff' AND d = 0x1F")).toBe("SELECT * FROM t WHERE a = ? AND b = ? AND c = ? AND d = ?");
    expect(digest("SELECT * FROM t2 WHERE id IN (1, 2, 3, 4) AND t2.col3 = $3")).toBe("SELECT * FROM t2 WHERE id IN (?) AND t2.col3 = $3");
    expect(digest("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')")).toBe("INSERT INTO t (a, b) VALUES (?)");
    expect(digest("UPDATE   t\n\tSET a = -1")).toBe("UPDATE t SET a = ?");
  });
});
