import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";

export interface QueryResult {
  columns: string[];
  rows: unknown[][];
  /** More rows matched than were returned. */
  truncated: boolean;
  elapsedMs: number;
}

export class QueryRefused extends Error {
  constructor(
    readonly reason: "refused" | "sql" | "timeout",
    message: string,
  ) {
    super(message);
  }
}

/**
 * One SQL statement over a read-only connection, in a child process: at most `maxRows` rows, and
 * stopped after `timeoutMs` (the process is killed: nothing else interrupts SQLite here).
 */
export async function readOnlyQuery(path: string, sql: string, options: { maxRows: number; timeoutMs: number }): Promise<QueryResult> {
  const started = performance.now();
  const child = fork(fileURLToPath(new URL("./query-worker.js", import.meta.url)), [], {
    execArgv: ["--max-old-space-size=256"],
    stdio: ["ignore", "ignore", "ignore", "ipc"],
  });
  try {
    const answer = await new Promise<{ ok: boolean; code?: string; message?: string; columns?: string[]; rows?: unknown[][]; truncated?: boolean }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new QueryRefused("timeout", `The query ran longer than ${options.timeoutMs} ms and was stopped. Narrow it (a WHERE on time, a LIMIT).`)), options.timeoutMs);
      child.once("message", (message) => {
        clearTimeout(timer);
        resolve(message as never);
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new QueryRefused("sql", `The query process ended (${signal ?? `exit ${code}`}) without an answer: the result may be too large.`));
      });
      child.send({ path, sql, maxRows: options.maxRows });
    });
    if (!answer.ok) throw new QueryRefused(answer.code === "refused" ? "refused" : "sql", answer.message ?? "The query failed.");
    return { columns: answer.columns ?? [], rows: answer.rows ?? [], truncated: answer.truncated ?? false, elapsedMs: Math.round(performance.now() - started) };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
}
