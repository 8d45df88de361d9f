import { endpointFigures, openDatabaseReadOnly, parseDuration } from "@seismo/analyzer";
import { usageError } from "../cli-error.js";
import { limitOf, verbArgs } from "../verb-args.js";
import { DB_HELP, DB_OPTION, dbPath } from "../options.js";
import { renderEndpointsTable } from "../render/endpoints-table.js";
import { terminalColumns } from "../render/terminal.js";

const COMMON_HELP = `  --since DURATION     how far back (default 15m): 30s, 5m, 2h, 7d
  --service NAME       only this service
  --deployment LABEL   only this deployment
  --limit N            rows (default 50)
${DB_HELP}
  -h, --help           this help

Percentiles come from log-scale histograms: within 19 % of the true value.`;

export const ENDPOINTS_HELP = `Usage: seismo endpoints [--outgoing] [--since DURATION] [--service NAME] [--deployment LABEL]
                        [--route TEXT] [--limit N] [--json] [--db PATH]

The HTTP endpoints the watched apps served over a recent period, busiest first:
calls, rate, share of 5xx responses and latency percentiles, per method and route.
Measured inside each app from request start to response finish, through Node's
own HTTP diagnostics channels: no code change, any framework on node:http.
With --outgoing: the HTTP calls the apps made (node:http, axios, fetch/undici),
per destination host and route, timed from request start to response headers.

Routes are the templates the app declared, taken while the route matched
(Express 4 and 5 with every router's mount path, Fastify 5, Koa with
@koa/router: /api/orders/:id); a response Express or Koa's router gave outside
any route is "(unmatched)"; on plain node:http,
the path without its query, with ids, UUIDs and tokens as ":id".

RATE is per second of busy time: over the windows in which the route was
called, so an idle hour does not dilute a busy minute. Latency is from the
request's headers being parsed to the response's end: time a request waited
in the kernel's accept queue or behind a busy event loop before its headers
were read is not in it (under overload the client sees more). "~" before a
count: under heavy traffic (over 1,000 requests a second, measured over at
least a second) one request in N was timed and counted N times.

Options:
  --outgoing           outgoing calls instead of served endpoints; ERR counts 5xx
                       answers and calls that failed without one (status 0)
  --route TEXT         only routes containing this text
  --json               a JSON array, busiest first: service, host, method, route, calls,
                       ratePerSec (per busy second), errors, errorRate, statuses,
                       meanMs, p50Ms, p95Ms, p99Ms, maxMs, routeTemplate, estimated
${COMMON_HELP}`;

export const QUERIES_HELP = `Usage: seismo queries [--since DURATION] [--service NAME] [--deployment LABEL]
                      [--statement TEXT] [--limit N] [--json] [--db PATH]

The database queries the watched apps ran over a recent period, busiest first:
calls, rate, failures and latency percentiles, per database and statement.
Timed inside each app from the call to its result, with no code change: mysql2
(3.20 and later) through its own tracing channels, pg by wrapping its
Client.prototype.query while the sensor is attached (put back on detach).

A statement is a digest: literals replaced by ?, lists collapsed, comments
dropped. No value leaves the app.

Options:
  --statement TEXT     only statements containing this text
  --json               a JSON array, busiest first: service, host (the database),
                       method (SELECT, INSERT...), route (the statement), calls,
                       ratePerSec, errors (failed queries), errorRate, meanMs, p50Ms,
                       p95Ms, p99Ms, maxMs
${COMMON_HELP}`;

export function endpointsCommand(args: string[], out: (text: string) => void): Promise<number> {
  return figuresCommand(args, out, "endpoints");
}

export function queriesCommand(args: string[], out: (text: string) => void): Promise<number> {
  return figuresCommand(args, out, "queries");
}

async function figuresCommand(args: string[], out: (text: string) => void, verb: "endpoints" | "queries"): Promise<number> {
  const parsed = verbArgs(verb, args, {
    ...DB_OPTION,
    since: { type: "string" },
    service: { type: "string" },
    deployment: { type: "string" },
    limit: { type: "string" },
    json: { type: "boolean" },
    route: { type: "string" },
    outgoing: { type: "boolean" },
    statement: { type: "string" },
  }, verb === "endpoints" ? ENDPOINTS_HELP : QUERIES_HELP, out);
  if (!parsed) return 0;
  const { values } = parsed;
  if (verb === "queries" && (values.route !== undefined || values.outgoing)) throw usageError("--route and --outgoing are for `seismo endpoints`; filter queries with --statement.", verb);
  if (verb === "endpoints" && values.statement !== undefined) throw usageError("--statement is for `seismo queries`; filter endpoints with --route.", verb);
  const limit = limitOf(values.limit, 50, verb);
  const sinceMs = Date.now() - parseDuration(values.since ?? "15m");
  const direction = verb === "queries" ? "db" : values.outgoing === true ? "out" : "in";
  const route = verb === "queries" ? values.statement : values.route;
  const db = openDatabaseReadOnly(dbPath(values.db));
  try {
    const result = endpointFigures(db, { sinceMs, service: values.service, deployment: values.deployment, route, limit, direction });
    const what = { in: ["requests", "served", "endpoint"], out: ["calls", "made", "outgoing call target"], db: ["queries", "ran", "statement"] }[direction];
    if (values.json) {
      out(JSON.stringify(result.endpoints, null, 2));
    } else if (result.endpoints.length === 0) {
      out(
        result.windows === 0 ?
          `No profile windows since ${new Date(sinceMs).toISOString()}. Try a longer --since, or check that a sensor is attached.`
        : `No ${direction === "db" ? "database" : "HTTP"} ${what[0]} in ${result.windows} window(s) since ${new Date(sinceMs).toISOString()}: the apps ${what[1]} none, or their sensors were started with ${direction === "db" ? "--no-queries" : "--no-endpoints"}.`,
      );
    } else {
      const services = new Set(result.endpoints.map((e) => e.service));
      out(`${result.endpoints.length} ${what[2]}(s) since ${new Date(sinceMs).toISOString()}\n`);
      out(renderEndpointsTable(result.endpoints, { width: terminalColumns(process.stdout, 160), showService: services.size > 1, direction }).join("\n"));
    }
  } finally {
    db.close();
  }
  return 0;
}
