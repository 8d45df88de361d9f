import { ErrorCodes, SeismoError } from "@seismo/agent-proto";
import type { Comparison, CompareSettings } from "../regressions/compare.js";
import type { FunctionInfo, WindowSample } from "../regressions/window-sample.js";
import { compareWindows, DEFAULT_COMPARE_SETTINGS } from "../regressions/compare.js";
import type { EndpointChange } from "../regressions/endpoint-compare.js";
import { compareEndpoints, DEFAULT_ENDPOINT_COMPARE_SETTINGS } from "../regressions/endpoint-compare.js";
import { stableFunctionKey } from "../regressions/function-key.js";
import type { Db } from "../store/database.js";
import { endpointWindowSamples } from "./endpoints.js";

/** One row of `seismo deployments --json`. */
export interface DeploymentSummary {
  service: string;
  /** "" when the targets had no deployment label. */
  deployment: string;
  firstSeenAt: string;
  lastSeenAt: string;
  windows: number;
  targets: number;
  cpuMs: number;
}

/** Deployments by service, in the order they were first seen. */
export function listDeployments(db: Db, query: { service?: string | undefined } = {}): DeploymentSummary[] {
  const rows = db
    .prepare(
      `SELECT service, deployment, MIN(start_ms) AS first_ms, MAX(end_ms) AS last_ms, COUNT(*) AS windows,
              COUNT(DISTINCT target_id) AS targets, SUM(cpu_us) AS cpu_us
       FROM windows WHERE (@service IS NULL OR service = @service)
       GROUP BY service, deployment ORDER BY service, first_ms`,
    )
    .all({ service: query.service ?? null }) as Array<{
    service: string;
    deployment: string;
    first_ms: number;
    last_ms: number;
    windows: number;
    targets: number;
    cpu_us: number;
  }>;
  return rows.map((r) => ({
    service: r.service,
    deployment: r.deployment,
    firstSeenAt: new Date(r.first_ms).toISOString(),
    lastSeenAt: new Date(r.last_ms).toISOString(),
    windows: r.windows,
    targets: r.targets,
    cpuMs: Math.round(r.cpu_us / 1_000),
  }));
}

/** The deployment of a service first seen just before `deployment`, with when each was first seen; undefined for the first. */
export function deploymentBefore(db: Db, service: string, deployment: string): { previous: string; firstSeenMs: number } | undefined {
  const order = db
    .prepare("SELECT deployment, MIN(start_ms) AS first_ms FROM windows WHERE service = ? GROUP BY deployment ORDER BY first_ms")
    .all(service) as Array<{ deployment: string; first_ms: number }>;
  const at = order.findIndex((d) => d.deployment === deployment);
  const previous = at > 0 ? order[at - 1] : undefined;
  const current = order[at];
  return previous && current ? { previous: previous.deployment, firstSeenMs: current.first_ms } : undefined;
}

/** The deployment of a service first seen just before `deployment`; undefined for the first. */
export function previousDeployment(db: Db, service: string, deployment: string): string | undefined {
  return deploymentBefore(db, service, deployment)?.previous;
}

export interface WindowSet {
  windows: WindowSample[];
  info: Map<string, FunctionInfo>;
}

export interface WindowSetQuery {
  service: string;
  deployment: string;
  /** Only windows that ended in [sinceMs, untilMs). */
  sinceMs?: number;
  untilMs?: number;
  /** The most recent windows only (default 720: two hours of 10 s windows). */
  maxWindows?: number;
}

/** A deployment's windows, each as self time per stable function key. */
export function loadWindowSet(db: Db, query: WindowSetQuery, into: Map<string, FunctionInfo> = new Map()): WindowSet {
  const windows = db
    .prepare(
      `SELECT id, cpu_us, target_id FROM windows WHERE service = @service AND deployment = @deployment
         AND end_ms >= @since AND end_ms < @until ORDER BY end_ms DESC LIMIT @limit`,
    )
    .all({
      service: query.service,
      deployment: query.deployment,
      since: query.sinceMs ?? 0,
      until: query.untilMs ?? Number.MAX_SAFE_INTEGER,
      limit: query.maxWindows ?? 720,
    }) as Array<{ id: number; cpu_us: number; target_id: string }>;
  const rows = db
    .prepare(
      `SELECT wf.window_ref, wf.self_us, wf.total_us, wf.self_samples, wf.inlined_samples, wf.uncertain_samples,
              f.name, f.file_path, f.script_url, f.line, f.package_name, f.package_version
       FROM window_functions wf JOIN functions f ON f.function_id = wf.function_id
       WHERE wf.window_ref IN (SELECT value FROM json_each(?))`,
    )
    .all(JSON.stringify(windows.map((w) => w.id))) as Array<{
    window_ref: number;
    self_us: number;
    total_us: number;
    self_samples: number;
    inlined_samples: number;
    uncertain_samples: number;
    name: string;
    file_path: string;
    script_url: string;
    line: number;
    package_name: string | null;
    package_version: string | null;
  }>;
  const byId = new Map<number, WindowSample>(windows.map((w) => [w.id, { group: w.target_id, cpuUs: w.cpu_us, selfUs: new Map(), totalUs: new Map() }]));
  for (const row of rows) {
    const key = stableFunctionKey({ name: row.name, filePath: row.file_path, scriptUrl: row.script_url, line: row.line, packageName: row.package_name });
    const sample = byId.get(row.window_ref);
    if (!sample) continue;
    sample.selfUs.set(key, (sample.selfUs.get(key) ?? 0) + row.self_us);
    sample.totalUs.set(key, Math.max(sample.totalUs.get(key) ?? 0, row.total_us));
    // The newest location wins: it is where the function is now.
    let info = into.get(key);
    if (!info) {
      info = { name: row.name, file: row.file_path || row.script_url, line: row.line, package: row.package_name, packageVersion: row.package_version };
      into.set(key, info);
    }
    const attribution = (info.attribution ??= { selfSamples: 0, inlinedSamples: 0, uncertainSamples: 0 });
    attribution.selfSamples += row.self_samples;
    attribution.inlinedSamples += row.inlined_samples;
    attribution.uncertainSamples += row.uncertain_samples;
  }
  return { windows: [...byId.values()], info: into };
}

export interface DiffQuery {
  service?: string | undefined;
  from: string;
  to: string;
  settings?: CompareSettings;
}

/** Function-level comparison of two deployments of a service. */
/**
 * Function by function, then endpoint by endpoint: the endpoints served, the HTTP calls made and
 * the queries run, each with enough calls a side (changed ones first within each).
 */
export function diffDeployments(db: Db, query: DiffQuery): Comparison & { service: string; from: string; to: string; endpoints: EndpointChange[] } {
  const service = query.service ?? soleServiceOf(db, query.from, query.to);
  const info = new Map<string, FunctionInfo>();
  // B first, so that function locations are taken from the newer deployment.
  const b = loadWindowSet(db, { service, deployment: query.to }, info);
  const a = loadWindowSet(db, { service, deployment: query.from }, info);
  for (const [side, set] of [
    [query.from, a],
    [query.to, b],
  ] as const) {
    if (set.windows.length === 0) {
      throw new SeismoError(ErrorCodes.NOT_FOUND, `No windows of deployment "${side}" of service "${service}".`, {
        hint: "`seismo deployments` lists the deployments the database holds.",
      });
    }
  }
  const comparison = compareWindows(a.windows, b.windows, (key) => info.get(key) as FunctionInfo, query.settings ?? DEFAULT_COMPARE_SETTINGS);
  const endpoints = (["in", "out", "db"] as const).flatMap((direction) =>
    compareEndpoints(
      endpointWindowSamples(db, { service, deployment: query.from, direction }),
      endpointWindowSamples(db, { service, deployment: query.to, direction }),
      DEFAULT_ENDPOINT_COMPARE_SETTINGS,
      direction,
    ),
  );
  // Changed ones first, whatever their kind of dependency (the sort is stable: each keeps its order).
  endpoints.sort((x, y) => Number(y.kind !== "unchanged") - Number(x.kind !== "unchanged"));
  return { service, from: query.from, to: query.to, ...comparison, endpoints };
}

function soleServiceOf(db: Db, from: string, to: string): string {
  const services = (
    db.prepare("SELECT DISTINCT service FROM windows WHERE deployment IN (?, ?)").all(from, to) as Array<{ service: string }>
  ).map((r) => r.service);
  if (services.length === 1) return services[0] as string;
  throw new SeismoError(
    ErrorCodes.USAGE,
    services.length === 0 ? `No service has deployment "${from}" or "${to}".` : `Several services have these deployments (${services.join(", ")}): give --service.`,
  );
}
