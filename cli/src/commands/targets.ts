import type { TargetSummary } from "@seismo/analyzer";
import { listTargets, openDatabaseReadOnly, parseDuration } from "@seismo/analyzer";
import { verbArgs } from "../verb-args.js";
import { DB_HELP, DB_OPTION, dbPath } from "../options.js";

export const TARGETS_HELP = `Usage: seismo targets [--since DURATION] [--service NAME] [--json] [--db PATH]

The Node.js processes that sensors watched: whether each is still attached,
its Node version and deployment, when it was last heard from, how many
profile windows it sent, and its CPU, memory and publish troubles from the
last heartbeat.

Status: attached (heard from in the last minute), silent (not heard from for
longer, and no goodbye: the daemon or the broker may be down), ended (the
target exited, or the sensor detached; the reason is given). A sensor that
could not close the inspector it had opened, or whose closing cut off another
debugger, says so below the table.

Options:
  --since DURATION     targets seen in this period (default 24h)
  --service NAME       only this service
  --json               a JSON array, most recently seen first
${DB_HELP}
  -h, --help           this help`;

function ago(iso: string, now: number): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1_000));
  return s < 120 ? `${s}s ago` : s < 7_200 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3_600)}h ago`;
}

export function renderTargets(targets: TargetSummary[], now = Date.now()): string[] {
  const header = ["STATUS", "SERVICE", "PID", "NODE", "DEPLOYMENT", "HOST", "LAST SEEN", "WINDOWS", "CPU", "RSS"];
  const rows = targets.map((t) => [
    t.status === "ended" ? `ended (${(t.endReason ?? "").toLowerCase().replace(/_/g, " ")})` : t.status,
    t.service,
    String(t.pid),
    t.nodeVersion,
    t.deployment || "-",
    t.pod || t.host,
    ago(t.lastSeenAt, now),
    String(t.windows),
    t.targetCpu === null ? "-" : `${Math.round(t.targetCpu * 100)}%`,
    t.targetRssBytes === null ? "-" : `${Math.round(t.targetRssBytes / 1_048_576)}MB`,
  ]);
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((r) => (r[c] as string).length)));
  const table = all.map((cells) =>
    cells
      .map((cell, c) => cell.padEnd(widths[c] as number))
      .join("  ")
      .trimEnd(),
  );
  // Below the table, where it cannot be missed: an inspector Seismo left open is a door into the app.
  const warnings = targets.filter((t) => t.inspectorWarning).map((t) => `warning: pid ${t.pid} (${t.service}) on ${t.pod || t.host}: ${t.endDetail}.`);
  return warnings.length ? [...table, "", ...warnings] : table;
}

export async function targetsCommand(args: string[], out: (text: string) => void): Promise<number> {
  const parsed = verbArgs("targets", args, { ...DB_OPTION, since: { type: "string" }, service: { type: "string" }, json: { type: "boolean" } }, TARGETS_HELP, out);
  if (!parsed) return 0;
  const { values } = parsed;
  const sinceMs = Date.now() - parseDuration(values.since ?? "24h");
  const db = openDatabaseReadOnly(dbPath(values.db));
  try {
    const targets = listTargets(db, { sinceMs, service: values.service });
    if (values.json) out(JSON.stringify(targets, null, 2));
    else if (targets.length === 0) out(`No targets seen since ${new Date(sinceMs).toISOString()}.`);
    else out(renderTargets(targets).join("\n"));
  } finally {
    db.close();
  }
  return 0;
}
