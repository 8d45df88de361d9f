import { createRequire } from "node:module";
import type MysqlPromise from "mysql2/promise";
import type PgModule from "pg";

const require = createRequire(import.meta.url);

/**
 * The real databases the probe tests talk to: PostgreSQL on 127.0.0.1:5432 (user postgres, trust
 * auth, database test) and MariaDB or MySQL on 127.0.0.1:3306 (root, no password, database test).
 * Throws, with what to start, when either does not answer: these tests never skip.
 */
export async function requireDatabases(): Promise<void> {
  const pg = require("pg") as typeof PgModule;
  const mysql = require("mysql2/promise") as typeof MysqlPromise;
  const client = new pg.Client({ host: "127.0.0.1", port: 5432, user: "postgres", database: "test", connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.end();
  } catch (error) {
    throw new Error(
      `These tests need PostgreSQL on 127.0.0.1:5432 with user postgres (trust auth) and a database "test" ` +
        `(Debian: apt-get install postgresql; createdb test): ${(error as Error).message}`,
    );
  }
  try {
    const connection = await mysql.createConnection({ host: "127.0.0.1", port: 3306, user: "root", database: "test", connectTimeout: 3_000 });
    await connection.end();
  } catch (error) {
    throw new Error(
      `These tests need MariaDB or MySQL on 127.0.0.1:3306 with user root (no password) and a database "test" ` +
        `(Debian: apt-get install mariadb-server; mariadb -e 'CREATE DATABASE test'): ${(error as Error).message}`,
    );
  }
}
