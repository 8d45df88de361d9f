import { ErrorCodes, SeismoError } from "@seismo/agent-proto";
import { formatForUrl, headsUp, headsUpMarkdown, openDatabaseReadOnly, parseDuration, postJson, redactWebhookUrl } from "@seismo/analyzer";
import { usageError } from "../cli-error.js";
import { verbArgs } from "../verb-args.js";
import { DB_HELP, DB_OPTION, dbPath } from "../options.js";

export const HEADS_UP_HELP = `Usage: seismo heads-up [--since DURATION] [--webhook URL] [--json] [--db PATH]

The daily heads-up, with nothing to configure: quick wins (incidents whose
culprit is already named, with the line to open), regressions since the start
of the period, and new hot functions (now among a service's hottest, with at
least twice the share of CPU they had in the period before). Run it from cron
once a day, e.g. \`seismo heads-up --webhook "$SLACK_URL"\`.

Options:
  --since DURATION     the period (default 24h)
  --webhook URL        also send it there: Seismo's JSON (schema "seismo.heads-up.v1"), or Slack
                       text for a hooks.slack.com URL (default: $SEISMO_WEBHOOK_URL if set)
  --webhook-format F   json or slack (default: slack for Slack URLs, else json)
  --json               print the JSON instead of Markdown
${DB_HELP}
  -h, --help           this help`;

export async function headsUpCommand(args: string[], out: (text: string) => void): Promise<number> {
  const parsed = verbArgs("heads-up", args, { ...DB_OPTION, since: { type: "string" }, webhook: { type: "string" }, "webhook-format": { type: "string" }, json: { type: "boolean" } }, HEADS_UP_HELP, out);
  if (!parsed) return 0;
  const { values } = parsed;
  const format = values["webhook-format"];
  if (format !== undefined && format !== "json" && format !== "slack") throw usageError(`--webhook-format is json or slack, not "${format}".`, "heads-up");
  const sinceMs = Date.now() - parseDuration(values.since ?? "24h");
  const db = openDatabaseReadOnly(dbPath(values.db));
  let report: ReturnType<typeof headsUp>;
  try {
    report = headsUp(db, { sinceMs });
  } finally {
    db.close();
  }
  const markdown = headsUpMarkdown(report);
  out(values.json ? JSON.stringify(report, null, 2) : markdown.trimEnd());
  const url = values.webhook ?? process.env.SEISMO_WEBHOOK_URL;
  if (url) {
    const body = (format ?? formatForUrl(url)) === "slack" ? { text: markdown } : report;
    const status = await postJson(url, JSON.stringify(body), AbortSignal.timeout(10_000)).catch((error: unknown) => {
      throw new SeismoError(ErrorCodes.USAGE, `Cannot send the heads-up to ${redactWebhookUrl(url)}: ${(error as Error).message}.`, { hint: "Check the URL; the report above was printed all the same." });
    });
    if (status < 200 || status >= 300) {
      throw new SeismoError(ErrorCodes.USAGE, `${redactWebhookUrl(url)} answered ${status} to the heads-up.`, { hint: "Check the webhook's URL and that it accepts JSON POSTs." });
    }
    process.stderr.write(`seismo: heads-up sent to ${redactWebhookUrl(url)}\n`);
  }
  return 0;
}
