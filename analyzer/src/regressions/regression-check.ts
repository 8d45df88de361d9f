import { deploymentBefore, diffDeployments, loadWindowSet } from "../query/deployments.js";
import type { Db } from "../store/database.js";
import type { Comparison } from "./compare.js";
import type { FunctionInfo } from "./window-sample.js";
import { compareWindows } from "./compare.js";
import type { EndpointChange } from "./endpoint-compare.js";

/** A check the regression watch asks for: read-only, and the costly part (loading windows, the bootstrap). */
export type CheckJob =
  | { kind: "deployment"; service: string; deployment: string }
  | { kind: "drift"; service: string; deployment: string; driftEvery: number; driftMinBaseline: number };

/** What a check found, as plain data: it crosses from a worker thread by structured clone. */
export type CheckResult =
  | { kind: "none" }
  | { kind: "deployment"; previousDeployment: string; firstSeenMs: number; diff: Comparison; endpoints: EndpointChange[] }
  | { kind: "drift"; splitMs: number; firstBeforeMs: number; baselineWindows: number; diff: Comparison };

/**
 * Runs one check against the database, reading only. For a deployment: the
 * comparison with the deployment first seen before it. For drift: the
 * deployment's latest `driftEvery` windows against the ones before them.
 */
export function runCheck(db: Db, job: CheckJob): CheckResult {
  const { service, deployment } = job;
  if (job.kind === "deployment") {
    const before = deploymentBefore(db, service, deployment);
    if (!before) return { kind: "none" };
    const diff = diffDeployments(db, { service, from: before.previous, to: deployment });
    // Endpoints: the changed ones only (a slower or failing endpoint makes a regression on its own).
    const endpoints = diff.endpoints.filter((c) => c.kind !== "unchanged");
    return { kind: "deployment", previousDeployment: before.previous, firstSeenMs: before.firstSeenMs, diff: withoutService(diff), endpoints };
  }
  const split = db
    .prepare("SELECT end_ms FROM windows WHERE service = ? AND deployment = ? ORDER BY end_ms DESC LIMIT 1 OFFSET ?")
    .get(service, deployment, job.driftEvery - 1) as { end_ms: number } | undefined;
  if (!split) return { kind: "none" };
  const info = new Map<string, FunctionInfo>();
  const recent = loadWindowSet(db, { service, deployment, sinceMs: split.end_ms, maxWindows: job.driftEvery }, info);
  const before = loadWindowSet(db, { service, deployment, untilMs: split.end_ms }, info);
  if (before.windows.length < job.driftMinBaseline) return { kind: "none" };
  const diff = compareWindows(before.windows, recent.windows, (key) => info.get(key) as FunctionInfo);
  const firstBefore = db
    .prepare("SELECT MIN(start_ms) AS ms FROM windows WHERE service = ? AND deployment = ? AND end_ms < ?")
    .get(service, deployment, split.end_ms) as { ms: number };
  return { kind: "drift", splitMs: split.end_ms, firstBeforeMs: firstBefore.ms, baselineWindows: before.windows.length, diff };
}

function withoutService(diff: Comparison & { service: string; from: string; to: string; endpoints: EndpointChange[] }): Comparison {
  const comparison: Comparison & Partial<{ service: string; from: string; to: string; endpoints: EndpointChange[] }> = { ...diff };
  delete comparison.service;
  delete comparison.from;
  delete comparison.to;
  delete comparison.endpoints;
  return comparison;
}
