import type { IncidentView } from "../incidents/incident.js";
import { describeCulprit, incidentHeadline } from "../incidents/incident.js";

/**
 * What a webhook receives for one incident, in one of two formats: Seismo's
 * own JSON (documented by docs/alert.schema.json, version in `schema`), or
 * Slack-compatible `{ text }` when the URL is a Slack incoming webhook.
 * Pure: the same incident always makes the same body, but for `sentAt`.
 */
export const ALERT_SCHEMA = "seismo.alert.v1";

export interface AlertCulprit {
  name: string;
  file: string | null;
  line: number | null;
  package: string | null;
  packageVersion: string | null;
  builtin: boolean;
  /** Share of CPU now (during the spike, or in the new deployment), 0..1. */
  share: number;
  /** Share of CPU before (the baseline, or the previous deployment), 0..1. */
  baselineShare: number;
  /** For regressions: the change with its 95 % confidence interval, as ratios (1.3 = +30 %). */
  change: { kind: "slower" | "new"; ratio: number | null; ciLow: number | null; ciHigh: number | null } | null;
  /** The application's own function that leads there, to open first. */
  appFrame: { name: string; file: string | null; line: number | null } | null;
}

export interface AlertBody {
  schema: typeof ALERT_SCHEMA;
  /** The incident id: receivers that may see a delivery twice (a retry after a lost answer) dedupe on it. */
  id: string;
  kind: IncidentView["kind"];
  service: string;
  deployment: string;
  previousDeployment: string | null;
  /** ISO 8601 */
  startedAt: string;
  summary: string;
  culprits: AlertCulprit[];
  /** What to run to see everything Seismo has on it. */
  next: string;
  /** ISO 8601 */
  sentAt: string;
}

export type AlertFormat = "json" | "slack";

/** Slack incoming webhooks live on hooks.slack.com; anything else gets Seismo's JSON. */
export function formatForUrl(url: string): AlertFormat {
  try {
    return new URL(url).hostname === "hooks.slack.com" ? "slack" : "json";
  } catch {
    return "json";
  }
}

export function alertBody(incident: IncidentView, sentAtMs: number): AlertBody {
  return {
    schema: ALERT_SCHEMA,
    ...incidentHeadline(incident),
    culprits: incident.culprits.slice(0, 5).map((c) => ({
      name: c.name,
      file: c.file,
      line: c.line,
      package: c.package,
      packageVersion: c.packageVersion,
      builtin: c.builtin,
      share: c.share,
      baselineShare: c.baselineShare,
      change: "change" in c ? (c as { change: AlertCulprit["change"] }).change : null,
      appFrame: c.appFrame,
    })),
    next: `seismo show ${incident.id}`,
    sentAt: new Date(sentAtMs).toISOString(),
  };
}

const TITLES: Record<IncidentView["kind"], string> = { cpu_spike: "CPU spike", regression: "Regression" };

/** Slack mrkdwn: one title line, the summary, the culprits, and the command for details. */
export function slackBody(incident: IncidentView): { text: string } {
  const lines = [`*${TITLES[incident.kind]} in ${incident.service}* (${incident.id})`, incident.summary];
  for (const c of incident.culprits.slice(0, 3)) {
    const app = c.appFrame && c.appFrame.name !== c.name ? `, from \`${c.appFrame.name}\` (${c.appFrame.file}:${c.appFrame.line})` : "";
    lines.push(`• ${describeCulprit(c)}: ${(c.baselineShare * 100).toFixed(1)} % → ${(c.share * 100).toFixed(1)} % of CPU${app}`);
  }
  lines.push(`Details: \`seismo show ${incident.id}\``);
  return { text: lines.join("\n") };
}
