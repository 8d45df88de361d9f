import type { Db } from "@seismo/analyzer";
import { openDatabaseReadOnly } from "@seismo/analyzer";

/** Runs `use` on the database opened read-only, and closes it: every MCP call gets a fresh view. */
export async function withDb<T>(dbPath: string, use: (db: Db) => T | Promise<T>): Promise<T> {
  const db = openDatabaseReadOnly(dbPath);
  try {
    return await use(db);
  } finally {
    db.close();
  }
}
