// Runs one read-only query for the MCP `query` tool, in a child process of its own, so that a
// runaway query can be stopped: better-sqlite3 is synchronous and has no interrupt, and a worker
// thread stuck inside SQLite cannot be terminated either. A process can be killed.
import { openDatabaseReadOnly } from "@seismo/analyzer";

interface Job {
  path: string;
  sql: string;
  maxRows: number;
  /** Characters of one cell kept; a longer one is cut and says so. */
  maxCellChars: number;
  /** Characters of the whole reply (about its JSON size); rows past it are left out and it says so. */
  maxReplyChars: number;
}

/** What a query may start with: reads only (no PRAGMA, which can write, no ATTACH, no DDL). */
const READ = /^\s*(?:--[^\n]*\n\s*|\/\*[\s\S]*?\*\/\s*)*(select|with|values)\b/i;

function cell(value: unknown, maxChars: number): unknown {
  if (typeof value === "bigint") return value.toString();
  if (Buffer.isBuffer(value)) return `<blob ${value.length} bytes>`;
  if (typeof value === "string" && value.length > maxChars) return `${value.slice(0, maxChars)}… [cut: ${value.length - maxChars} more characters]`;
  return value;
}

/** About the characters a cell takes in the JSON reply. */
function size(value: unknown): number {
  return typeof value === "string" ? value.length + 3 : 12;
}

function run({ path, sql, maxRows, maxCellChars, maxReplyChars }: Job): unknown {
  if (!READ.test(sql) || /\b(attach|detach)\b/i.test(sql.replace(/'(?:[^']|'')*'/g, "''"))) {
    return { ok: false, code: "refused", message: "Only one SELECT (or WITH … SELECT, VALUES) statement is allowed: no writes, PRAGMA, ATTACH or DETACH." };
  }
  const db = openDatabaseReadOnly(path);
  try {
    const statement = db.prepare(sql);
    // SQLite's own verdict, besides the keyword: a statement that would write is refused.
    if (!statement.reader || !statement.readonly) return { ok: false, code: "refused", message: "This statement would change the database: only reads are allowed." };
    const columns = statement.columns().map((c) => c.name);
    const rows: unknown[][] = [];
    let truncated = false;
    let cutForSize = false;
    let chars = 0;
    for (const row of statement.raw(true).iterate() as IterableIterator<unknown[]>) {
      if (rows.length >= maxRows) {
        truncated = true;
        break;
      }
      const cells = row.map((value) => cell(value, maxCellChars));
      chars += cells.reduce((sum: number, value) => sum + size(value), 2);
      if (chars > maxReplyChars) {
        truncated = true;
        cutForSize = true;
        break;
      }
      rows.push(cells);
    }
    return { ok: true, columns, rows, truncated, cutForSize };
  } catch (error) {
    return { ok: false, code: "sql", message: (error as Error).message };
  } finally {
    db.close();
  }
}

process.once("message", (job: Job) => {
  process.send?.(run(job), () => process.exit(0));
});
