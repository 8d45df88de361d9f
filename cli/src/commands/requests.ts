import { listRequests, openDatabaseReadOnly, parseDuration } from "@seismo/analyzer";
import { usageError } from "../cli-error.js";
import { limitOf, verbArgs } from "../verb-args.js";
import { DB_HELP, DB_OPTION, dbPath } from "../options.js";
import { renderRequestLine } from "../render/request.js";

export const REQUESTS_HELP = `Usage: seismo requests [--errors | --slow] [--route TEXT] [--service NAME] [--since DURATION]
                       [--limit N] [--json] [--db PATH]

Served requests that failed or were slow, newest first, each with its story:
the route and its parameters, every query and outgoing call it made (statement,
duration, rows, the database's error), and the error the framework handled with
its stack and the app's own frame. \`seismo show <id>\` prints one as a timeline.

A request is kept when it failed (a 5xx answer, with the error Express, Fastify
or Koa handled when there was one; a 4xx is the client's mistake), was given up
on (its connection closed before its response ended) or was slow
(over 500 ms, or over its route's p99 when that is higher), a few a minute per
route at most: a route failing a thousand times a
second sends a handful. A request that ends well and fast leaves nothing.
Values are cut (depth 3, 20 fields, 255 characters) and secrets redacted in the
app's host, by name and by shape; only a few request headers are kept (never
authorization or cookies).

Options:
  --errors             only failed requests (5xx, or given up on)
  --slow               only slow ones
  --route TEXT         only this route (as shown: GET's /api/orders/:id is "/api/orders/:id")
  --service NAME       only this service
  --since DURATION     how far back (default 24h): 30m, 2h, 7d
  --limit N            requests (default 50)
  --json               a JSON array, newest first: id, service, deployment, targetId,
                       startedAt, method, route, routeTemplate, status, durationMs,
                       keptBecause, slowThresholdMs, params {path, query, headers, body},
                       queries [{statement, database, offsetMs, durationMs, rows, error}],
                       calls [{method, host, route, status, offsetMs, durationMs, error}],
                       stepsLeftOut, error {type, message, code, stack, appFrame, handledBy}
${DB_HELP}
  -h, --help           this help`;

export async function requestsCommand(args: string[], out: (text: string) => void): Promise<number> {
  const parsed = verbArgs(
    "requests",
    args,
    { ...DB_OPTION, errors: { type: "boolean" }, slow: { type: "boolean" }, route: { type: "string" }, service: { type: "string" }, since: { type: "string" }, limit: { type: "string" }, json: { type: "boolean" } },
    REQUESTS_HELP,
    out,
  );
  if (!parsed) return 0;
  const { values } = parsed;
  if (values.errors && values.slow) throw usageError("Give --errors or --slow, not both.", "requests");
  const sinceMs = Date.now() - parseDuration(values.since ?? "24h");
  const db = openDatabaseReadOnly(dbPath(values.db));
  try {
    const requests = listRequests(db, { errors: values.errors === true, slow: values.slow === true, route: values.route, service: values.service, sinceMs, limit: limitOf(values.limit, 50, "requests") });
    if (values.json) out(JSON.stringify(requests, null, 2));
    else if (requests.length === 0) out(`No ${values.errors ? "failed" : values.slow ? "slow" : "failed or slow"} requests kept since ${new Date(sinceMs).toISOString()}.`);
    else {
      for (const r of requests) out(renderRequestLine(r));
      out("");
      out("One in full: seismo show <id>");
    }
  } finally {
    db.close();
  }
  return 0;
}
