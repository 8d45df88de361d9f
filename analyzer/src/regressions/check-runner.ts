import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { Db } from "../store/database.js";
import type { CheckJob, CheckResult } from "./regression-check.js";
import { runCheck } from "./regression-check.js";

/** Runs regression checks somewhere; the watch awaits one at a time. */
export interface CheckRunner {
  run(job: CheckJob): Promise<CheckResult>;
  close(): Promise<void>;
}

/** On the caller's thread, after the current turn (tests, and where no worker can start). */
export class InlineCheckRunner implements CheckRunner {
  constructor(private readonly db: Db) {}

  async run(job: CheckJob): Promise<CheckResult> {
    await new Promise((resolve) => setImmediate(resolve));
    return runCheck(this.db, job);
  }

  async close(): Promise<void> {}
}

interface WorkerReply {
  id: number;
  result?: CheckResult;
  error?: string;
}

const WORKER_URL = new URL("./check-worker.js", import.meta.url);

/**
 * On a worker thread with its own read-only connection, so that a check (up to a second of
 * bootstrap over thousands of windows, measured) never holds up ingest, nor, in `seismo run`,
 * the sensor sharing the process. SQLite's WAL lets the worker read while the ingest writes.
 * The worker is unref'd: it never keeps the process alive.
 */
export class WorkerCheckRunner implements CheckRunner {
  /** Started on the first check: a service that never redeploys never pays for the thread. */
  private worker: Worker | undefined;
  private readonly waiting = new Map<number, { resolve: (r: CheckResult) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private failed: Error | undefined;

  /** Undefined when the compiled worker is not there (running from TypeScript sources). */
  static create(dbPath: string, workerUrl: URL = WORKER_URL): WorkerCheckRunner | undefined {
    return existsSync(fileURLToPath(workerUrl)) ? new WorkerCheckRunner(dbPath, workerUrl) : undefined;
  }

  private constructor(
    private readonly dbPath: string,
    private readonly workerUrl: URL,
  ) {}

  private start(): Worker {
    const worker = new Worker(this.workerUrl, { workerData: { dbPath: this.dbPath } });
    worker.unref();
    worker.on("message", (reply: WorkerReply) => {
      const waiter = this.waiting.get(reply.id);
      this.waiting.delete(reply.id);
      if (reply.error !== undefined) waiter?.reject(new Error(reply.error));
      else waiter?.resolve(reply.result as CheckResult);
    });
    const fail = (error: Error): void => {
      this.failed = error;
      for (const waiter of this.waiting.values()) waiter.reject(error);
      this.waiting.clear();
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`the regression-check worker exited (code ${code})`)));
    return worker;
  }

  run(job: CheckJob): Promise<CheckResult> {
    if (this.failed) return Promise.reject(this.failed);
    this.worker ??= this.start();
    const worker = this.worker;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, job });
    });
  }

  async close(): Promise<void> {
    this.failed ??= new Error("the regression-check runner is closed");
    await this.worker?.terminate();
  }
}
