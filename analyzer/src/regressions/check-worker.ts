/**
 * The regression-check worker thread (see WorkerCheckRunner): one read-only
 * connection, one check at a time, each answered by its id.
 */
import { parentPort, workerData } from "node:worker_threads";
import { openDatabaseReadOnly } from "../store/database.js";
import type { CheckJob } from "./regression-check.js";
import { runCheck } from "./regression-check.js";

const db = openDatabaseReadOnly((workerData as { dbPath: string }).dbPath);

parentPort?.on("message", ({ id, job }: { id: number; job: CheckJob }) => {
  try {
    parentPort?.postMessage({ id, result: runCheck(db, job) });
  } catch (error) {
    parentPort?.postMessage({ id, error: error instanceof Error ? error.message : String(error) });
  }
});
