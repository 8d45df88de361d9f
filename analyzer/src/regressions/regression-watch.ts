import type { ProfileWindow } from "@seismo/agent-proto";
import { incidentId } from "../incidents/incident-id.js";
import type { Db } from "../store/database.js";
import type { CheckRunner } from "./check-runner.js";
import { InlineCheckRunner } from "./check-runner.js";
import type { Comparison } from "./compare.js";
import type { EndpointChange } from "./endpoint-compare.js";
import { describeEndpointChange } from "./endpoint-compare.js";
import type { CheckJob, CheckResult } from "./regression-check.js";
import type { RegressionCulprit } from "./regressions.js";
import { describeChange, describeDistributionChange, isRuntimeInternal, regressionCulprits } from "./regressions.js";

export interface RegressionWatchSettings {
  /** Check a new deployment when it has this many windows (at 10 s windows: 2, 5, 10 and 30 minutes)... */
  checkAtWindows: number[];
  /** ...and then every this many more (at 10 s windows: hourly). */
  thenEvery: number;
  /**
   * Drift, with no deployment: every this many windows of one deployment (at 10 s windows:
   * hourly), its latest this-many windows are compared with the ones before them...
   */
  driftEvery: number;
  /** ...once there are at least this many before them. */
  driftMinBaseline: number;
}

export const DEFAULT_REGRESSION_WATCH: RegressionWatchSettings = { checkAtWindows: [12, 30, 60, 180], thenEvery: 360, driftEvery: 360, driftMinBaseline: 360 };

export interface RegressionDetails {
  /** "deployment": compared with the deployment before; "drift": with the same deployment's earlier windows. */
  cause: "deployment" | "drift";
  /** The deployment compared against (for drift, the same one). */
  previousDeployment: string;
  /** For drift: the period compared against and the period that changed (ISO 8601). */
  baselinePeriod: { from: string; to: string } | null;
  windowsA: number;
  windowsB: number;
  checkedAt: string;
  /** The largest function-level changes (up to 10), as `seismo diff` gives them. */
  changes: Comparison["changes"];
  /** Changes the averages hide (rare slow paths, unstable costs). */
  distribution: Comparison["distribution"];
  /** HTTP endpoints that got slower or started failing (deployment checks; absent from older incidents). */
  endpoints?: EndpointChange[];
}

/** What the watch reports besides storing incidents. */
export interface RegressionWatchHooks {
  /** An incident was stored or updated (its id). */
  onIncident?: (incidentId: string) => void;
  /** A check failed: what failed and why. */
  onError?: (message: string) => void;
  /** A check ran: one line saying what it compared and what it found, incident or not. */
  onChecked?: (line: string) => void;
}

/**
 * Watches deployments as their windows arrive: when a service's newest
 * deployment reaches a checkpoint, it is compared with the deployment before
 * it, and functions that got slower (or new functions that take a real
 * share, or rare slow paths) make one `regression` incident per deployment,
 * updated at later checks. Every hour of windows, a deployment is also
 * compared with its own earlier windows: a function that got slower with no
 * deployment (data growth, a cache gone cold, a dependency's behaviour) is a
 * `regression` incident with cause "drift", one per function and deployment.
 *
 * The comparisons run on a CheckRunner (a worker thread in the analyzer), one
 * at a time, off the ingest path; only storing the incident happens here.
 */
export class RegressionWatch {
  private readonly counts = new Map<string, number>();
  private queue: Promise<void> = Promise.resolve();
  private pending = 0;

  constructor(
    private readonly db: Db,
    private readonly settings: RegressionWatchSettings = DEFAULT_REGRESSION_WATCH,
    private readonly runner: CheckRunner = new InlineCheckRunner(db),
    private readonly hooks: RegressionWatchHooks = {},
  ) {}

  /** Call after a window is stored: queues the checks this window makes due. */
  onWindow(window: ProfileWindow): void {
    const { service, deployment } = window.target;
    const key = `${service}\u0000${deployment}`;
    const count = (this.counts.get(key) ?? this.countStored(service, deployment) - 1) + 1;
    this.counts.set(key, count);
    if (this.isCheckpoint(count)) this.enqueue({ kind: "deployment", service, deployment });
    const { driftEvery, driftMinBaseline } = this.settings;
    if (count % driftEvery === 0 && count >= driftEvery + driftMinBaseline) this.enqueue({ kind: "drift", service, deployment, driftEvery, driftMinBaseline });
  }

  /** Checks queued or running. */
  get backlog(): number {
    return this.pending;
  }

  /** Resolves when every queued check is done and its incidents stored. */
  idle(): Promise<void> {
    return this.queue;
  }

  /** Lets queued checks finish, then stops the runner. */
  async close(): Promise<void> {
    await this.queue;
    await this.runner.close();
  }

  private enqueue(job: CheckJob): void {
    this.pending++;
    this.queue = this.queue.then(async () => {
      try {
        const result = await this.runner.run(job);
        if (result.kind !== "none") this.hooks.onChecked?.(describeCheck(job, result));
        const ids = result.kind === "deployment" ? this.storeDeployment(job, result) : result.kind === "drift" ? this.storeDrift(job, result) : [];
        for (const id of ids) this.hooks.onIncident?.(id);
      } catch (error) {
        this.hooks.onError?.(`regression check of ${job.service} ${job.deployment || "(none)"} failed: ${(error as Error).message}`);
      } finally {
        this.pending--;
      }
    });
  }

  private isCheckpoint(count: number): boolean {
    const { checkAtWindows, thenEvery } = this.settings;
    if (checkAtWindows.includes(count)) return true;
    const last = checkAtWindows.at(-1) ?? 0;
    return count > last && (count - last) % thenEvery === 0;
  }

  private countStored(service: string, deployment: string): number {
    return (this.db.prepare("SELECT COUNT(*) AS n FROM windows WHERE service = ? AND deployment = ?").get(service, deployment) as { n: number }).n;
  }

  /** Stores or updates the deployment's incident when the comparison with the one before it names culprits. */
  private storeDeployment(job: CheckJob, result: Extract<CheckResult, { kind: "deployment" }>, nowMs = Date.now()): string[] {
    const { service, deployment } = job;
    const { diff, previousDeployment, endpoints } = result;
    const culprits = regressionCulprits(diff);
    if (culprits.length === 0 && endpoints.length === 0) return [];
    const sourceId = `${service}\u0000${deployment}`;
    const since = `deployment ${deployment || "(none)"}`;
    const versus = `vs ${previousDeployment || "(none)"}`;
    this.store(sourceId, service, deployment, result.firstSeenMs, nowMs, culprits, diff, {
      cause: "deployment",
      previousDeployment,
      baselinePeriod: null,
      summary: culprits.length > 0 ? regressionSummary(service, since, versus, culprits, diff, "Regression", endpoints) : endpointRegressionSummary(service, since, versus, endpoints),
      endpoints,
    });
    return [incidentId("regression", sourceId)];
  }

  /** One incident per drifting function: the same function drifting further updates it. */
  private storeDrift(job: CheckJob, result: Extract<CheckResult, { kind: "drift" }>, nowMs = Date.now()): string[] {
    const { service, deployment } = job;
    const { diff } = result;
    const ids: string[] = [];
    for (const culprit of regressionCulprits(diff)) {
      const sourceId = `drift\u0000${service}\u0000${deployment}\u0000${culprit.package ?? ""}|${culprit.file ?? ""}|${culprit.name}`;
      const period = { from: new Date(result.firstBeforeMs).toISOString(), to: new Date(result.splitMs).toISOString() };
      this.store(sourceId, service, deployment, result.splitMs, nowMs, [culprit], diff, {
        cause: "drift",
        previousDeployment: deployment,
        baselinePeriod: period,
        summary: regressionSummary(
          service,
          `${period.to.slice(0, 16).replace("T", " ")} UTC, with no deployment`,
          `vs the ${result.baselineWindows} windows before`,
          [culprit],
          diff,
          "Drift",
        ),
      });
      ids.push(incidentId("regression", sourceId));
    }
    return ids;
  }

  private store(
    sourceId: string,
    service: string,
    deployment: string,
    startedAtMs: number,
    nowMs: number,
    culprits: RegressionCulprit[],
    diff: Comparison,
    about: {
      cause: RegressionDetails["cause"];
      previousDeployment: string;
      baselinePeriod: RegressionDetails["baselinePeriod"];
      summary: string;
      endpoints?: EndpointChange[];
    },
  ): void {
    const details: RegressionDetails = {
      cause: about.cause,
      previousDeployment: about.previousDeployment,
      baselinePeriod: about.baselinePeriod,
      windowsA: diff.windowsA,
      windowsB: diff.windowsB,
      checkedAt: new Date(nowMs).toISOString(),
      changes: diff.changes.slice(0, 10),
      distribution: diff.distribution.slice(0, 5),
      ...(about.endpoints ? { endpoints: about.endpoints.slice(0, 10) } : {}),
    };
    this.db
      .prepare(
        `INSERT INTO incidents (incident_id, kind, service, deployment, target_id, started_at_ms, ended_at_ms, summary, culprits,
           details, source_id, created_at_ms)
         VALUES (@id, 'regression', @service, @deployment, NULL, @startedAtMs, NULL, @summary, @culprits, @details, @sourceId, @now)
         ON CONFLICT(incident_id) DO UPDATE SET summary = excluded.summary, culprits = excluded.culprits, details = excluded.details`,
      )
      .run({
        id: incidentId("regression", sourceId),
        service,
        deployment,
        startedAtMs,
        summary: about.summary,
        culprits: JSON.stringify(culprits),
        details: JSON.stringify(details, (_k, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? null : v)),
        sourceId,
        now: nowMs,
      });
  }
}

/** "Regression in shop: `renderInvoice` (src/invoice.ts) +31 % (95 % CI +24…+38 %) CPU per unit of work since deployment v42 (vs v41), 180 windows vs 2400." */
export function regressionSummary(
  service: string,
  since: string,
  versus: string,
  culprits: RegressionCulprit[],
  diff: Comparison,
  title = "Regression",
  endpoints: EndpointChange[] = [],
): string {
  const top = culprits[0] as RegressionCulprit;
  const where = top.package ? `${top.package}${top.packageVersion ? `@${top.packageVersion}` : ""}` : (top.file ?? "").split("/").slice(-2).join("/");
  const more = culprits.length > 1 ? ` (and ${culprits.length - 1} more)` : "";
  const hidden = diff.distribution.find((d) => d.name === top.name && d.file === (top.file ?? ""));
  const averaged = diff.changes.find((c) => c.name === top.name && c.file === (top.file ?? ""));
  const what =
    (top.change.kind === "rare_slow_path" || top.change.kind === "unstable") && hidden ? describeDistributionChange(hidden)
    : averaged ? `${describeChange(averaged)} CPU per unit of work`
    : "";
  const served = endpoints.length > 0 ? ` Endpoints: ${endpoints.slice(0, 2).map(describeEndpointChange).join("; ")}${endpoints.length > 2 ? ` (and ${endpoints.length - 2} more)` : ""}.` : "";
  return `${title} in ${service}: \`${top.name}\` (${where}) ${what} since ${since} (${versus}), ${diff.windowsB} windows vs ${diff.windowsA}${more}.${served}`;
}

/** "Regression in shop: `GET /orders/:id` mean latency +85 % (95 % CI +60…+110 %), 12.1 → 22.4 ms since deployment v42 (vs v41); no function's CPU share changed beyond noise." */
export function endpointRegressionSummary(service: string, since: string, versus: string, endpoints: EndpointChange[]): string {
  const served = endpoints.find((e) => e.direction === "in");
  const waited = endpoints.find((e) => e.direction !== "in");
  const lead = (served ?? waited) as EndpointChange;
  const more = endpoints.length > (served && waited ? 2 : 1) ? ` (and ${endpoints.length - (served && waited ? 2 : 1)} more)` : "";
  // A served endpoint that got slower with a query or call that got slower too: that is where it waits.
  const where = served && waited ? `, waiting on the ${describeEndpointChange(waited)}` : "";
  return `Regression in ${service}: ${describeEndpointChange(lead)} since ${since} (${versus})${where}${more}; no function's CPU share changed beyond noise: the time may be spent waiting (a database, a downstream call), not computing.`;
}

/**
 * One line for the log after every check, so that "why no incident?" has an answer: what was
 * compared, and the largest change with its interval even when it stayed within the noise.
 * "regression check of shop v42 vs v41 (60 windows vs 44): no regression; strongest change renderInvoice +18 % (95 % CI -2…+40 %)"
 */
export function describeCheck(job: CheckJob, result: Exclude<CheckResult, { kind: "none" }>): string {
  const { diff } = result;
  const what =
    result.kind === "deployment" ?
      `regression check of ${job.service} ${job.deployment || "(none)"} vs ${result.previousDeployment || "(none)"} (${diff.windowsB} windows vs ${diff.windowsA})`
    : `drift check of ${job.service} ${job.deployment || "(none)"} (latest ${diff.windowsB} windows vs ${result.baselineWindows} before)`;
  if (!diff.enough) return `${what}: not enough windows yet`;
  const culprits = regressionCulprits(diff);
  const endpoints = result.kind === "deployment" && result.endpoints.length > 0 ? `; endpoints: ${result.endpoints.map(describeEndpointChange).join("; ")}` : "";
  if (culprits.length > 0) return `${what}: ${culprits.length} culprit(s), first ${culprits[0]?.name} ${culprits[0]?.note}${endpoints}`;
  if (endpoints) return `${what}: no function beyond noise${endpoints}`;
  // Node's own and native frames never make a regression, so they are not "the strongest change" either.
  const largest = diff.changes.find((c) => !isRuntimeInternal(c) && c.kind !== "new" && c.kind !== "gone" && Number.isFinite(c.ratio));
  return `${what}: no ${result.kind === "deployment" ? "regression" : "drift"}${largest ? `; strongest change ${largest.name} ${describeChange(largest)}` : ""}`;
}
