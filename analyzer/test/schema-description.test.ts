import { describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import { describeSchema, TABLE_NOTES } from "../src/query/schema-description.js";
import { migrate } from "../src/store/database.js";

function schema(): Map<string, string[]> {
  const db = new Database(":memory:");
  migrate(db);
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as Array<{ name: string }>;
  const out = new Map(tables.map((t) => [t.name, (db.prepare("SELECT name FROM pragma_table_info(?)").all(t.name) as Array<{ name: string }>).map((c) => c.name)]));
  db.close();
  return out;
}

describe("the schema as agents read it", () => {
  it("has a note for every table, and no note for a table or column that does not exist", () => {
    const tables = schema();
    for (const name of tables.keys()) if (name !== "schema_migrations") expect(TABLE_NOTES[name], name).toBeDefined();
    for (const [table, note] of Object.entries(TABLE_NOTES)) {
      expect(tables.has(table), table).toBe(true);
      for (const column of Object.keys(note.columns ?? {})) expect(tables.get(table), `${table}.${column}`).toContain(column);
    }
  });

  it("lists every column of every table, as the migrations made them", () => {
    const text = describeSchema();
    for (const [table, columns] of schema()) {
      if (table === "schema_migrations") continue;
      const line = text.split("\n").find((l) => l.startsWith(`- ${table}(`));
      expect(line, table).toBeDefined();
      for (const column of columns) expect(line, `${table}.${column}`).toMatch(new RegExp(`[(, ]${column}\\b`));
    }
    // What the hand-written text got wrong: endpoints, calls and queries share a table, and hot lines are pairs.
    expect(text).toMatch(/window_endpoints\(window_ref \(→ windows\.id\), direction \('in' requests/);
    expect(text).toContain("hot_lines (JSON [[line, samples], ...]");
  });
});
