import type { ProfileWindow } from "@seismo/agent-proto";
import { incidentId } from "../incidents/incident.js";
import { diffDeployments } from "../query/deployments.js";
import type { Db } from "../store/database.js";
import type { Comparison } from "./compare.js";
import type { RegressionCulprit } from "./regressions.js";
import { describeChange, regressionCulprits } from "./regressions.js";

export interface RegressionWatchSettings {
  /** Check a new deployment when it has this many windows (at 10 s windows: 2, 5, 10 and 30 minutes)... */
  checkAtWindows: number[];
  /** ...and then every this many more (at 10 s windows: hourly). */
  thenEvery: number;
}

export const DEFAULT_REGRESSION_WATCH: RegressionWatchSettings = { checkAtWindows: [12, 30, 60, 180], thenEvery: 360 };

export interface RegressionDetails {
  previousDeployment: string;
  windowsA: number;
  windowsB: number;
  checkedAt: string;
  /** The largest function-level changes (up to 10), as `seismo diff` gives them. */
  changes: Comparison["changes"];
}

/**
 * Watches deployments as their windows arrive: when a service's newest
 * deployment reaches a checkpoint, it is compared with the deployment before
 * it, and functions that got slower (or new functions that take a real share)
 * make one `regression` incident per deployment, updated at later checks.
 */
export class RegressionWatch {
  private readonly counts = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly settings: RegressionWatchSettings = DEFAULT_REGRESSION_WATCH,
  ) {}

  /** Call after a window is stored; returns the incident id when one was opened or updated. */
  onWindow(window: ProfileWindow, nowMs = Date.now()): string | undefined {
    const { service, deployment } = window.target;
    const key = `${service}\u0000${deployment}`;
    const count = (this.counts.get(key) ?? this.countStored(service, deployment) - 1) + 1;
    this.counts.set(key, count);
    if (!this.isCheckpoint(count)) return undefined;
    return this.check(service, deployment, nowMs);
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

  /** Compares the deployment with the one first seen before it; stores or updates its incident. */
  check(service: string, deployment: string, nowMs = Date.now()): string | undefined {
    const order = this.db
      .prepare("SELECT deployment, MIN(start_ms) AS first_ms FROM windows WHERE service = ? GROUP BY deployment ORDER BY first_ms")
      .all(service) as Array<{ deployment: string; first_ms: number }>;
    const at = order.findIndex((d) => d.deployment === deployment);
    const previous = at > 0 ? order[at - 1] : undefined;
    const current = order[at];
    if (!previous || !current) return undefined;
    const diff = diffDeployments(this.db, { service, from: previous.deployment, to: deployment });
    const culprits = regressionCulprits(diff);
    if (culprits.length === 0) return undefined;
    const id = incidentId("regression", `${service}\u0000${deployment}`);
    const details: RegressionDetails = {
      previousDeployment: previous.deployment,
      windowsA: diff.windowsA,
      windowsB: diff.windowsB,
      checkedAt: new Date(nowMs).toISOString(),
      changes: diff.changes.slice(0, 10),
    };
    this.db
      .prepare(
        `INSERT INTO incidents (incident_id, kind, service, deployment, target_id, started_at_ms, ended_at_ms, summary, culprits,
           details, source_id, created_at_ms)
         VALUES (@id, 'regression', @service, @deployment, NULL, @startedAtMs, NULL, @summary, @culprits, @details, @sourceId, @now)
         ON CONFLICT(incident_id) DO UPDATE SET summary = excluded.summary, culprits = excluded.culprits, details = excluded.details`,
      )
      .run({
        id,
        service,
        deployment,
        startedAtMs: current.first_ms,
        summary: regressionSummary(service, deployment, previous.deployment, culprits, diff),
        culprits: JSON.stringify(culprits),
        details: JSON.stringify(details, (_k, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? null : v)),
        sourceId: `${service}\u0000${deployment}`,
        now: nowMs,
      });
    return id;
  }
}

/** "`renderInvoice` (src/invoice.ts) +31 % (95 % CI +24…+38 %) since deployment v42, 180 windows vs 2400." */
export function regressionSummary(service: string, deployment: string, previous: string, culprits: RegressionCulprit[], diff: Comparison): string {
  const top = culprits[0] as RegressionCulprit;
  const change = diff.changes.find((c) => c.name === top.name && c.file === (top.file ?? "")) ?? diff.changes[0];
  const where = top.package ? `${top.package}${top.packageVersion ? `@${top.packageVersion}` : ""}` : (top.file ?? "").split("/").slice(-2).join("/");
  const more = culprits.length > 1 ? ` (and ${culprits.length - 1} more)` : "";
  return (
    `Regression in ${service}: \`${top.name}\` (${where}) ${change ? describeChange(change) : ""} CPU per unit of work since deployment ${deployment || "(none)"}` +
    ` (vs ${previous || "(none)"}), ${diff.windowsB} windows vs ${diff.windowsA}${more}.`
  );
}
