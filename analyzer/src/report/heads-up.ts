import { isAnonymousName } from "@seismo/agent-proto";
import type { Db } from "../store/database.js";
import { attributionMarks, INLINED_LEGEND } from "../query/attribution-marks.js";
import { listIncidents } from "../query/incidents.js";
import { topFunctions } from "../query/top-functions.js";
import { lineToOpen } from "../incidents/incident.js";
import type { RouteRequests } from "../requests/request-summary.js";
import { routeRequests } from "../requests/request-summary.js";

export const HEADS_UP_SCHEMA = "seismo.heads-up.v1";

export interface HeadsUpItem {
  incidentId: string;
  kind: "cpu_spike" | "regression";
  service: string;
  deployment: string;
  summary: string;
  /** The culprit function, and the line to open ("file:line"), when named. */
  culprit: string | null;
  open: string | null;
}

export interface NewHotFunction {
  service: string;
  name: string;
  file: string;
  line: number;
  package: string | null;
  /** 0..1 of the service's CPU in this period and in the one before. */
  share: number;
  previousShare: number;
  /** "*" when part of its time is inlined code Seismo gave back to it, "?" when part may be inlined code of others (attribution-marks.ts). */
  marks: string;
}

export interface HeadsUp {
  schema: typeof HEADS_UP_SCHEMA;
  /** ISO 8601 */
  from: string;
  to: string;
  /** Incidents of the period whose culprit is named: a fix can start today. */
  quickWins: HeadsUpItem[];
  /** Functions that got slower with a deployment, this period. */
  regressions: HeadsUpItem[];
  /** Functions now among a service's hottest that used far less CPU the period before. */
  newHotFunctions: NewHotFunction[];
  /** Routes with failed or slow requests kept this period, most failures first, each with its latest story. */
  failingRoutes: RouteRequests[];
}

export interface HeadsUpQuery {
  sinceMs: number;
  nowMs?: number;
  /** A function counts as hot from this share of its service's CPU (default 0.02). */
  minShare?: number;
}

/** A function must have grown by this factor over the previous period to be "new" among the hottest. */
const NEW_HOT_FACTOR = 2;

function itemOf(incident: ReturnType<typeof listIncidents>[number]): HeadsUpItem {
  const culprit = incident.culprits[0];
  return {
    incidentId: incident.id,
    kind: incident.kind,
    service: incident.service,
    deployment: incident.deployment,
    summary: incident.summary,
    culprit: culprit?.name ?? null,
    open: lineToOpen(culprit)?.text ?? null,
  };
}

/**
 * The daily heads-up: what is worth a look today, without configuration. Quick wins are the
 * period's incidents with a named culprit; regressions are listed apart; new hot functions
 * compare each service's hottest functions with the period before, of the same length (none when
 * that period has no data: a first day flags nothing).
 */
export function headsUp(db: Db, query: HeadsUpQuery): HeadsUp {
  const now = query.nowMs ?? Date.now();
  const length = now - query.sinceMs;
  const minShare = query.minShare ?? 0.02;
  const incidents = listIncidents(db, { sinceMs: query.sinceMs, limit: 200 });
  const services = (db.prepare("SELECT DISTINCT service FROM windows WHERE end_ms >= ?").all(query.sinceMs) as Array<{ service: string }>).map((r) => r.service);
  const newHotFunctions: NewHotFunction[] = [];
  for (const service of services) {
    const current = topFunctions(db, { sinceMs: query.sinceMs, untilMs: now + 1, service, limit: 20 });
    const previous = topFunctions(db, { sinceMs: query.sinceMs - length, untilMs: query.sinceMs, service, limit: 1_000 });
    if (previous.windows === 0) continue;
    for (const fn of current.functions) {
      if (fn.selfShare < minShare || (fn.name.startsWith("(") && !isAnonymousName(fn.name))) continue;
      const before = previous.functions.find((p) => p.name === fn.name && p.file === fn.file && p.line === fn.line)?.selfShare ?? 0;
      if (fn.selfShare >= before * NEW_HOT_FACTOR) {
        newHotFunctions.push({
          service,
          name: fn.name,
          file: fn.file,
          line: fn.line,
          package: fn.package,
          share: fn.selfShare,
          previousShare: before,
          marks: attributionMarks(fn),
        });
      }
    }
  }
  return {
    schema: HEADS_UP_SCHEMA,
    from: new Date(query.sinceMs).toISOString(),
    to: new Date(now).toISOString(),
    quickWins: incidents.filter((i) => i.kind === "cpu_spike" && i.culprits.length > 0).map(itemOf),
    regressions: incidents.filter((i) => i.kind === "regression").map(itemOf),
    newHotFunctions: newHotFunctions.sort((a, b) => b.share - a.share),
    failingRoutes: routeRequests(db, { sinceMs: query.sinceMs, untilMs: now + 1, limit: 10 }),
  };
}

const pct = (share: number): string => `${(share * 100).toFixed(1)} %`;

/** The heads-up as Markdown (also the text of its Slack message). */
export function headsUpMarkdown(report: HeadsUp): string {
  const lines = [`# Seismo heads-up, ${report.from.slice(0, 16).replace("T", " ")} to ${report.to.slice(0, 16).replace("T", " ")} UTC`, ""];
  const item = (i: HeadsUpItem): string => `- **${i.service}** ${i.summary}${i.open ? ` Open \`${i.open}\`.` : ""} (\`seismo triage ${i.incidentId}\`)`;
  lines.push("## Quick wins (culprit already found)", "", ...(report.quickWins.length > 0 ? report.quickWins.map(item) : ["None."]), "");
  lines.push("## Regressions", "", ...(report.regressions.length > 0 ? report.regressions.map(item) : ["None."]), "");
  lines.push(
    "## New hot functions",
    "",
    ...(report.newHotFunctions.length > 0
      ? [
          ...report.newHotFunctions.map(
            (f) => `- **${f.service}** \`${f.name}\`${f.marks ? ` ${f.marks}` : ""} ${f.file}:${f.line}${f.package ? ` (${f.package})` : ""}: ${pct(f.share)} of CPU, ${pct(f.previousShare)} the period before`,
          ),
          ...(report.newHotFunctions.some((f) => f.marks.includes("*")) ? ["", INLINED_LEGEND] : []),
          ...(report.newHotFunctions.some((f) => f.marks.includes("?")) ? ["", "? part of its time may be inlined code of other functions: its lines cannot tell (`seismo top` names them)"] : []),
        ]
      : ["None."]),
  );
  lines.push(
    "",
    "## Failed and slow requests",
    "",
    ...(report.failingRoutes.length > 0
      ? [
          ...report.failingRoutes.map(
            (r) => `- **${r.service}** \`${r.method} ${r.route}\`: ${[r.failed > 0 ? `${r.failed} failed` : "", r.slow > 0 ? `${r.slow} slow` : ""].filter(Boolean).join(", ")} kept. Latest: ${r.latest.summary} (\`seismo show ${r.latest.id}\`)`,
          ),
          "",
          "Kept requests are a few a minute per route at most: counts of stories, not of every failure (`seismo endpoints` has those).",
        ]
      : ["None."]),
  );
  return `${lines.join("\n")}\n`;
}
