import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";

export interface QueryResult {
  columns: string[];
  rows: unknown[][];
  /** More rows matched than were returned. */
  truncated: boolean;
  /** Rows were left out to keep the reply under its size limit (a cell over its limit says so itself). */
  cutForSize: boolean;
  elapsedMs: number;
}

export interface QueryLimits {
  maxRows: number;
  timeoutMs: number;
  /** Characters of one cell kept (default 4,096). */
  maxCellChars?: number;
  /** Characters of the whole reply (default 1,000,000): what one agent call may cost the server. */
  maxReplyChars?: number;
}

/** Queries run at once in this process: each is a process of its own, with up to 256 MB. */
export const MAX_PARALLEL_QUERIES = 2;
let running = 0;

export class QueryRefused extends Error {
  constructor(
    readonly reason: "refused" | "sql" | "timeout" | "busy",
    message: string,
  ) {
    super(message);
  }
}

/**
 * One SQL statement over a read-only connection, in a child process: at most `maxRows` rows, and
 * stopped after `timeoutMs` (the process is killed: nothing else interrupts SQLite here).
 */
export async function readOnlyQuery(path: string, sql: string, options: QueryLimits): Promise<QueryResult> {
  if (running >= MAX_PARALLEL_QUERIES) {
    throw new QueryRefused("busy", `${running} queries are running already (at most ${MAX_PARALLEL_QUERIES} at once): wait for one to finish, then ask again.`);
  }
  running++;
  try {
    return await runQuery(path, sql, options);
  } finally {
    running--;
  }
}

async function runQuery(path: string, sql: string, options: QueryLimits): Promise<QueryResult> {
  const started = performance.now();
  const child = fork(fileURLToPath(new URL("./query-worker.js", import.meta.url)), [], {
    execArgv: ["--max-old-space-size=256"],
    stdio: ["ignore", "ignore", "ignore", "ipc"],
  });
  try {
    const answer = await new Promise<{ ok: boolean; code?: string; message?: string; columns?: string[]; rows?: unknown[][]; truncated?: boolean; cutForSize?: boolean }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new QueryRefused("timeout", `The query ran longer than ${options.timeoutMs} ms and was stopped. Narrow it (a WHERE on time, a LIMIT).`)), options.timeoutMs);
      child.once("message", (message) => {
        clearTimeout(timer);
        resolve(message as never);
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new QueryRefused("sql", `The query process ended (${signal ?? `exit ${code}`}) without an answer: the result may be too large.`));
      });
      child.send({ path, sql, maxRows: options.maxRows, maxCellChars: options.maxCellChars ?? 4_096, maxReplyChars: options.maxReplyChars ?? 1_000_000 });
    });
    if (!answer.ok) throw new QueryRefused(answer.code === "refused" ? "refused" : "sql", answer.message ?? "The query failed.");
    return {
      columns: answer.columns ?? [],
      rows: answer.rows ?? [],
      truncated: answer.truncated ?? false,
      cutForSize: answer.cutForSize ?? false,
      elapsedMs: Math.round(performance.now() - started),
    };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}
