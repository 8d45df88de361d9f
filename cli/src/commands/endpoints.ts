import { parseArgs } from "node:util";
import { endpointFigures, openDatabaseReadOnly, parseDuration } from "@seismo/analyzer";
import { usageError } from "../cli-error.js";
import { DB_HELP, DB_OPTION, dbPath, HELP_OPTION } from "../options.js";
import { renderEndpointsTable } from "../render/endpoints-table.js";
import { terminalColumns } from "../render/terminal.js";

export const ENDPOINTS_HELP = `Usage: seismo endpoints [--outgoing] [--since DURATION] [--service NAME] [--deployment LABEL]
                        [--route TEXT] [--limit N] [--json] [--db PATH]

The HTTP endpoints the watched apps served over a recent period, busiest first:
calls, rate, share of 5xx responses and latency percentiles, per method and route.
Measured inside each app from request start to response finish, through Node's
own HTTP diagnostics channels: no code change, any framework on node:http.
With --outgoing: the HTTP calls the apps made (node:http, axios, fetch/undici),
per destination host and route, timed from request start to response headers.

Routes are the framework's templates when it sets them (Express: /orders/:id);
otherwise the path without its query, with ids, UUIDs and tokens as ":id".

Options:
  --outgoing           outgoing calls instead of served endpoints; ERR counts 5xx
                       answers and calls that failed without one (status 0)
  --since DURATION     how far back (default 15m): 30s, 5m, 2h, 7d
  --service NAME       only this service
  --deployment LABEL   only this deployment
  --route TEXT         only routes containing this text
  --limit N            rows (default 50)
  --json               a JSON array, busiest first: service, host, method, route, calls,
                       ratePerSec, errors, errorRate, statuses, meanMs, p50Ms, p95Ms,
                       p99Ms, maxMs, routeTemplate
${DB_HELP}
  -h, --help           this help

Percentiles come from log-scale histograms: within 19 % of the true value.`;

export async function endpointsCommand(args: string[], out: (text: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      ...DB_OPTION,
      ...HELP_OPTION,
      since: { type: "string" },
      service: { type: "string" },
      deployment: { type: "string" },
      route: { type: "string" },
      limit: { type: "string" },
      json: { type: "boolean" },
      outgoing: { type: "boolean" },
    },
    allowPositionals: true,
  });
  if (values.help) {
    out(ENDPOINTS_HELP);
    return 0;
  }
  if (positionals.length > 0) throw usageError(`Unexpected "${positionals[0]}".`, "endpoints");
  const limit = values.limit === undefined ? 50 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw usageError(`--limit must be a positive whole number, not "${values.limit}".`, "endpoints");
  const sinceMs = Date.now() - parseDuration(values.since ?? "15m");
  const db = openDatabaseReadOnly(dbPath(values.db));
  try {
    const outgoing = values.outgoing === true;
    const result = endpointFigures(db, { sinceMs, service: values.service, deployment: values.deployment, route: values.route, limit, outgoing });
    if (values.json) {
      out(JSON.stringify(result.endpoints, null, 2));
    } else if (result.endpoints.length === 0) {
      out(
        result.windows === 0 ?
          `No profile windows since ${new Date(sinceMs).toISOString()}. Try a longer --since, or check that a sensor is attached.`
        : `No HTTP ${outgoing ? "calls" : "requests"} in ${result.windows} window(s) since ${new Date(sinceMs).toISOString()}: the apps ${outgoing ? "made" : "served"} none, or their sensors were started with --no-endpoints.`,
      );
    } else {
      const services = new Set(result.endpoints.map((e) => e.service));
      out(`${result.endpoints.length} ${outgoing ? "outgoing call target" : "endpoint"}(s) since ${new Date(sinceMs).toISOString()}\n`);
      out(renderEndpointsTable(result.endpoints, { width: terminalColumns(process.stdout, 160), showService: services.size > 1, outgoing }).join("\n"));
    }
  } finally {
    db.close();
  }
  return 0;
}
