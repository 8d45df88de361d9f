import type { Db, IncidentView, SnapshotView } from "@seismo/analyzer";
import {
  AGENT_VOCABULARY,
  attributionShares,
  describeSchema,
  diffDeployments,
  endpointFigures,
  functionStats,
  getIncident,
  getRequest,
  incidentHeadline,
  listDeployments,
  listIncidents,
  listLoadChanges,
  listRequests,
  listSnapshots,
  parseDuration,
  plainValue,
  topFunctions,
  triageFor,
} from "@seismo/analyzer";
import { describeError } from "@seismo/agent-proto";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import { readOnlyQuery } from "./read-only-query.js";
import { withDb as withDbAt } from "./with-db.js";

/** Where a function lives: what an agent opens. */
const location = {
  name: z.string(),
  file: z.string().nullable().describe("Absolute path as the process saw it; null for built-ins"),
  line: z.number().nullable().describe("1-based line of the declaration"),
  package: z.string().nullable().describe("npm package, null for the app's own code"),
  packageVersion: z.string().nullable(),
};
const frame = z.object(location);
/** What of a function's figures Seismo inferred rather than V8 gave (query/attribution-marks.ts). */
const attribution = {
  inlinedShare: z
    .number()
    .describe("0..1 of its self time that V8 charged to the function it was inlined into and Seismo moved back by source lines (exact within one script)"),
  uncertainShare: z.number().describe("0..1 of its self time that may be inlined code of other functions its lines cannot tell apart: treat that part as uncertain"),
};
const culprit = z
  .object({
    ...location,
    builtin: z.boolean(),
    share: z.number().describe("0..1 of CPU during the incident (for a regression: in the new deployment)"),
    baselineShare: z.number().describe("0..1 of CPU normally (for a regression: in the previous deployment)"),
    hotLine: z.number().nullable(),
    appFrame: z.object({ name: z.string(), file: z.string().nullable(), line: z.number().nullable() }).nullable().describe("The app's own line that leads to the culprit: open this"),
    callers: z.array(frame).describe("Outermost caller first"),
    samples: z.number(),
  })
  .passthrough();
const incidentSummary = z.object({
  id: z.string(),
  kind: z.enum(["cpu_spike", "regression"]),
  service: z.string(),
  deployment: z.string(),
  previousDeployment: z.string().nullable(),
  startedAt: z.string(),
  endedAt: z.string().nullable(),
  summary: z.string(),
  culprit: culprit.nullable(),
});
const snapshot = z.object({
  function: z.string(),
  file: z.string(),
  line: z.number(),
  capturedAt: z.string(),
  trigger: z.string(),
  error: z.string(),
  values: z.record(z.unknown()).describe("name → captured value (cut to limits, secrets redacted)"),
  stack: z.array(z.string()),
});

const stepError = z.object({ code: z.string(), message: z.string() }).nullable().describe("When it failed: the error's code (SQLSTATE, ER_…, ECONNREFUSED) and message, redacted");
const keptRequest = z.object({
  id: z.string().describe("req-…: what get_request takes"),
  service: z.string(),
  deployment: z.string(),
  targetId: z.string(),
  startedAt: z.string(),
  method: z.string(),
  route: z.string(),
  routeTemplate: z.boolean().describe("true: the framework's route template; false: the path with ids as ':id'"),
  status: z.number(),
  durationMs: z.number(),
  keptBecause: z.string().describe("'error' (the framework handled an error), 'status' (a 5xx), 'slow' (over slowThresholdMs), 'aborted' (its connection closed before its response ended; status 0 when no headers were sent)"),
  slowThresholdMs: z.number().describe("What slow meant for it: the larger of 500 ms and its route's recent p99"),
  params: z
    .object({ path: z.unknown(), query: z.unknown(), headers: z.unknown(), body: z.unknown() })
    .describe("Path params, query string, the few request headers kept, the parsed JSON body: plain JSON, cut to limits (marked) and redacted; null when absent"),
  queries: z
    .array(z.object({ statement: z.string().describe("Digest: literals as ?"), database: z.string(), offsetMs: z.number(), durationMs: z.number().nullable().describe("null: still running at the response's end"), rows: z.number().nullable(), error: stepError }))
    .describe("In the order they started, offsets from the request's start"),
  calls: z.array(z.object({ method: z.string(), host: z.string(), route: z.string(), status: z.number(), offsetMs: z.number(), durationMs: z.number().nullable(), error: stepError })),
  stepsLeftOut: z.number(),
  error: z
    .object({
      type: z.string(),
      message: z.string(),
      code: z.string(),
      stack: z.array(z.string()),
      appFrame: z.string().describe("The innermost frame in the app's own code: open this"),
      handledBy: z.string(),
      captureTrigger: z.string().describe("error:<fingerprint>: the trigger of this error's snapshots (the values at appFrame when it came again); '' when none"),
    })
    .nullable(),
});

/** The culprit as the schema has it (the type has no index signature; the value is the same). */
function culpritOf(c: IncidentView["culprits"][number]): z.infer<typeof culprit> {
  return { ...c };
}

function sinceMs(text: string | undefined, fallback: string): number {
  return Date.now() - parseDuration(text ?? fallback);
}

function summaryOf(incident: IncidentView): z.infer<typeof incidentSummary> {
  return {
    ...incidentHeadline(incident),
    endedAt: incident.endedAt,
    culprit: incident.culprits[0] ? culpritOf(incident.culprits[0]) : null,
  };
}

function snapshotOf(s: SnapshotView): z.infer<typeof snapshot> {
  const values: Record<string, unknown> = {};
  for (const local of s.locals) values[local.name] = plainValue(local);
  if (s.thisValue) values.this = plainValue(s.thisValue);
  return { function: s.functionName, file: s.file, line: s.line, capturedAt: s.capturedAt, trigger: s.trigger, error: s.error, values, stack: s.stack };
}

function result<T extends Record<string, unknown>>(structured: T) {
  return { content: [{ type: "text" as const, text: JSON.stringify(structured, null, 2) }], structuredContent: structured };
}

/** A failed call as the agent reads it: what went wrong, what to do, and the stable code. */
function failure(error: unknown) {
  return { content: [{ type: "text" as const, text: describeError(error) }], isError: true };
}

export const QUERY_MAX_ROWS = 500;
export const QUERY_TIMEOUT_MS = 5_000;

/**
 * The tables and columns of the schema this Seismo writes, with what each holds (analyzer
 * query/schema-description.ts): made once, when the first MCP server registers its tools, not
 * at the start of every `seismo` command (it migrates a database in memory, ~8 ms).
 */
let schema: string | undefined;
const schemaText = (): string => (schema ??= describeSchema());

/** Registers Seismo's tools on an MCP server; each call opens the database read-only and closes it. */
export function registerSeismoTools(server: McpServer, dbPath: string): void {
  const withDb = <T>(use: (db: Db) => T | Promise<T>): Promise<T> => withDbAt(dbPath, use);
  const guarded =
    <A>(handler: (args: A) => Promise<ReturnType<typeof result>>) =>
    async (args: A) => {
      try {
        return await handler(args);
      } catch (error) {
        return failure(error);
      }
    };

  server.registerTool(
    "list_incidents",
    {
      title: "List incidents",
      description:
        "Production incidents Seismo detected, newest first: CPU spikes (with the function that burned the CPU) and regressions (a function slower since a deployment). Start here for 'what went wrong?'. Each has a one-line summary and its main culprit with file, line and package; call get_incident for the evidence. loadChanges lists CPU rises that were only more of the usual requests at the usual cost each: context, not incidents.",
      inputSchema: {
        since: z.string().optional().describe("How far back: 30m, 6h, 7d (default 24h)"),
        kind: z.enum(["cpu_spike", "regression"]).optional(),
        service: z.string().optional(),
      },
      outputSchema: {
        incidents: z.array(incidentSummary),
        loadChanges: z.array(z.object({ service: z.string(), deployment: z.string(), at: z.string(), text: z.string() })),
        since: z.string(),
      },
    },
    guarded(async ({ since, kind, service }) =>
      withDb((db) => {
        const from = sinceMs(since, "24h");
        const incidents = listIncidents(db, { sinceMs: from, ...(kind ? { kind } : {}), ...(service ? { service } : {}) }).map(summaryOf);
        const loadChanges = listLoadChanges(db, { sinceMs: from, ...(service ? { service } : {}) }).map(({ service: s, deployment, at, text }) => ({ service: s, deployment, at, text }));
        return result({ incidents, loadChanges, since: new Date(from).toISOString() });
      }),
    ),
  );

  server.registerTool(
    "get_incident",
    {
      title: "Get an incident with its evidence",
      description:
        "One incident in full: every culprit with its caller chain (outermost first) and the app line to open, the figures behind it (shares, samples, windows, confidence intervals for regressions), the heaviest stacks of a spike, the values captured from the culprit's next calls (arguments, locals; secrets redacted), the deployments involved, and a suggested next step.",
      inputSchema: { id: z.string().describe("Incident id (spk-… or reg-…) or a unique prefix") },
      outputSchema: {
        incident: incidentSummary.extend({ culprits: z.array(culprit), details: z.record(z.unknown()) }),
        snapshots: z.array(snapshot),
        nextStep: z.string(),
      },
    },
    guarded(async ({ id }) =>
      withDb((db) => {
        const incident = getIncident(db, id);
        const snapshots = listSnapshots(db, { incidentId: incident.id, limit: 5 }).map(snapshotOf);
        return result({
          incident: { ...summaryOf(incident), culprits: incident.culprits.map(culpritOf), details: incident.details as unknown as Record<string, unknown> },
          snapshots,
          // The triage brief's advice, in the words of these tools.
          nextStep: triageFor(db, incident, AGENT_VOCABULARY).next.join(" "),
        });
      }),
    ),
  );

  server.registerTool(
    "hot_functions",
    {
      title: "Hottest functions",
      description:
        "The functions that used the most CPU in a period, across every process of a service (or all), sampled continuously: self time (in the function itself) and total time (with what it calls), as shares of all CPU, with their file, line and npm package@version, and the number of samples behind each figure. inlinedShare and uncertainShare say how much of a function's time Seismo inferred rather than V8 gave (V8 charges inlined functions' time to their caller). Use it for 'what is this service spending its CPU on?'.",
      inputSchema: {
        service: z.string().optional(),
        since: z.string().optional().describe("30m, 6h, 7d (default 1h)"),
        limit: z.number().int().min(1).max(100).optional().describe("default 20"),
      },
      outputSchema: {
        since: z.string(),
        windows: z.number().describe("Profile windows behind the figures"),
        cpuMs: z.number(),
        functions: z.array(
          z.object({
            ...location,
            ...attribution,
            service: z.string(),
            selfShare: z.number(),
            totalShare: z.number(),
            selfMs: z.number(),
            totalMs: z.number(),
            samples: z.number(),
            inlineCandidates: z.array(z.string()).describe("the functions the uncertain part may belong to, as name (file:line)"),
            generatedFile: z.string().nullable().describe("where V8 ran it, when a source map gave the original file (a dist/ file or a bundle)"),
            generatedLine: z.number().nullable(),
            calledBy: z.string().nullable().describe("for a native function (no file): the JavaScript function that called it"),
          }),
        ),
      },
    },
    guarded(async ({ service, since, limit }) =>
      withDb((db) => {
        const top = topFunctions(db, { sinceMs: sinceMs(since, "1h"), service, limit: limit ?? 20 });
        return result({
          since: new Date(top.sinceMs).toISOString(),
          windows: top.windows,
          cpuMs: top.cpuMs,
          functions: top.functions.map((f) => ({
            name: f.name,
            file: f.file || null,
            line: f.line,
            package: f.package,
            packageVersion: f.packageVersion,
            service: f.service,
            selfShare: f.selfShare,
            totalShare: f.totalShare,
            selfMs: f.selfMs,
            totalMs: f.totalMs,
            samples: f.samples,
            inlinedShare: f.inlinedShare,
            uncertainShare: f.uncertainShare,
            inlineCandidates: f.inlineCandidates,
            generatedFile: f.generatedFile || null,
            generatedLine: f.generatedFile ? f.generatedLine : null,
            calledBy: f.calledBy || null,
          })),
        });
      }),
    ),
  );

  const share = z.object({ selfShare: z.number(), totalShare: z.number(), selfMs: z.number(), samples: z.number(), windows: z.number() });
  server.registerTool(
    "function_stats",
    {
      title: "One function's figures over time and per deployment",
      description:
        "How much CPU one function used, over time and in each deployment: its share of CPU (self and total), milliseconds and samples. Give a function name, or file:line of its declaration (a path suffix is enough). Use it to check whether a function got slower, and since when.",
      inputSchema: {
        function: z.string().describe("A name (renderInvoice) or file:line (src/invoice.js:28)"),
        service: z.string().optional(),
        since: z.string().optional().describe("default 24h"),
      },
      outputSchema: {
        matches: z.array(z.object({ name: z.string(), file: z.string(), line: z.number(), package: z.string().nullable(), packageVersion: z.string().nullable(), service: z.string() })),
        overall: share,
        byDeployment: z.array(share.extend({ deployment: z.string(), firstSeenAt: z.string(), lastSeenAt: z.string() })),
        overTime: z.array(share.extend({ from: z.string() })),
      },
    },
    guarded(async (args) => withDb((db) => result({ ...functionStats(db, { function: args.function, service: args.service, sinceMs: sinceMs(args.since, "24h") }) }))),
  );

  server.registerTool(
    "list_endpoints",
    {
      title: "List HTTP endpoints with their latency and errors",
      description:
        "The HTTP endpoints the services served (or, with outgoing: true, the HTTP calls they made, per destination host; with queries: true, their database queries per statement) over a period, busiest first: calls, rate, 5xx errors and their share, calls per status, and latency (mean, p50, p95, p99, max; ms, from request start to response finish, percentiles within 19 %). Routes are framework templates (Express) or paths with ids as ':id'. Use it for 'which endpoint is slow or failing?', then hot_functions for where its time goes.",
      inputSchema: {
        since: z.string().optional().describe("How far back: 30m, 6h, 7d (default 1h)"),
        service: z.string().optional(),
        deployment: z.string().optional(),
        route: z.string().optional().describe("Only routes containing this text"),
        outgoing: z.boolean().optional().describe("true: the HTTP calls the services made (node:http, fetch), per destination host; default: the endpoints they served"),
        queries: z.boolean().optional().describe("true: the database queries they ran (pg, mysql2), per database (host) and statement digest (route; literals as ?); errors are failed queries"),
      },
      outputSchema: {
        since: z.string(),
        endpoints: z.array(
          z.object({
            service: z.string(),
            host: z.string().describe("Outgoing calls: the destination host[:port]; queries: the database; empty for endpoints"),
            method: z.string(),
            route: z.string(),
            routeTemplate: z.boolean(),
            estimated: z.boolean().describe("true when heavy traffic made the probe time one request in N: figures scaled up, estimates"),
            calls: z.number(),
            ratePerSec: z.number(),
            errors: z.number().describe("Responses with a 5xx status; for outgoing calls also calls that failed without a response (status 0)"),
            errorRate: z.number().describe("0..1"),
            statuses: z.record(z.number()).describe("status code → calls"),
            meanMs: z.number(),
            p50Ms: z.number(),
            p95Ms: z.number(),
            p99Ms: z.number(),
            maxMs: z.number(),
          }),
        ),
      },
    },
    guarded(async (args) =>
      withDb((db) => {
        const from = sinceMs(args.since, "1h");
        const { endpoints } = endpointFigures(db, { sinceMs: from, service: args.service, deployment: args.deployment, route: args.route, direction: args.queries ? "db" : args.outgoing ? "out" : "in" });
        return result({ since: new Date(from).toISOString(), endpoints });
      }),
    ),
  );

  server.registerTool(
    "list_requests",
    {
      title: "List failed and slow requests, each with its queries, calls and error",
      description:
        "Served requests that failed (a 5xx, with the error the framework handled when there was one; or given up on by the client before their response ended) or were slow (over 500 ms, or over their route's p99), newest first, each with what an agent needs to fix it: the route and its parameters (path, query, a few headers, the parsed body; redacted), every database query (statement digest, duration, rows, the database's error) and outgoing call it made, in order, and the error with its stack and the app's own frame. A few a minute per route at most; healthy requests leave nothing. Use it after list_endpoints shows a route failing or slow, then get_request for one.",
      inputSchema: {
        since: z.string().optional().describe("How far back: 30m, 6h, 7d (default 24h)"),
        errors: z.boolean().optional().describe("true: only failed requests"),
        slow: z.boolean().optional().describe("true: only slow requests"),
        route: z.string().optional().describe("Only this route, exactly as shown (e.g. /api/orders/:id)"),
        service: z.string().optional(),
        limit: z.number().int().min(1).max(100).optional().describe("At most this many (default 20)"),
      },
      outputSchema: { since: z.string(), requests: z.array(keptRequest) },
      annotations: { readOnlyHint: true },
    },
    guarded(async (args) =>
      withDb((db) => {
        const from = sinceMs(args.since, "24h");
        const requests = listRequests(db, { sinceMs: from, errors: args.errors === true, slow: args.slow === true, route: args.route, service: args.service, limit: args.limit ?? 20 });
        return result({ since: new Date(from).toISOString(), requests });
      }),
    ),
  );

  server.registerTool(
    "get_request",
    {
      title: "One failed or slow request in full",
      description: "One kept request (an id from list_requests, or a unique prefix): its route, parameters, its queries and calls in order with their durations and errors, and the error the framework handled with its stack and app frame.",
      inputSchema: { id: z.string().describe("req-…") },
      outputSchema: { request: keptRequest },
      annotations: { readOnlyHint: true },
    },
    guarded(async ({ id }) => withDb((db) => result({ request: getRequest(db, id) }))),
  );

  server.registerTool(
    "list_deployments",
    {
      title: "List deployments",
      description: "The deployments Seismo has seen per service, in the order they appeared (a label from the app's environment, the pod, or a fingerprint of its code), with how many windows and processes back each.",
      inputSchema: { service: z.string().optional() },
      outputSchema: { deployments: z.array(z.object({ service: z.string(), deployment: z.string(), firstSeenAt: z.string(), lastSeenAt: z.string(), windows: z.number(), targets: z.number(), cpuMs: z.number() })) },
    },
    guarded(async ({ service }) => withDb((db) => result({ deployments: listDeployments(db, { service }) }))),
  );

  server.registerTool(
    "compare_deployments",
    {
      title: "Compare two deployments function by function",
      description:
        "What changed between two deployments of a service, per function: slower, faster, new, gone or unchanged, with the ratio of its time (normalized for traffic: more requests of the same shape is no change) and a 95 % confidence interval, largest changes first. 'enough' is false when either side has too few windows to say.",
      inputSchema: { from: z.string(), to: z.string(), service: z.string().optional(), limit: z.number().int().min(1).max(200).optional().describe("default 20") },
      outputSchema: {
        service: z.string(),
        from: z.string(),
        to: z.string(),
        enough: z.boolean(),
        windows: z.object({ from: z.number(), to: z.number() }),
        processes: z.object({ from: z.number(), to: z.number() }),
        processSpread: z
          .number()
          .describe("how far (log-scale standard deviation; 0.1 ≈ ±10 %) the same function moves between processes of the same code, estimated from the functions (at least 0.1 when the load differs 1.5x); the intervals include it; 0 when not estimated"),
        loadRatio: z.number().describe("CPU per window, to / from: a load that differs 1.5x or more widens every interval"),
        changes: z.array(
          z.object({
            ...location,
            ...attribution,
            kind: z.enum(["slower", "faster", "new", "gone", "unchanged"]),
            shareFrom: z.number(),
            shareTo: z.number(),
            ratio: z.number().nullable().describe("1.31 = 31 % slower; null for a new or gone function"),
            ciLow: z.number().nullable(),
            ciHigh: z.number().nullable(),
          }),
        ),
        endpoints: z
          .array(
            z.object({
              direction: z.enum(["in", "out", "db"]).describe("in: an endpoint served; out: an HTTP call made; db: a database query"),
              method: z.string(),
              host: z.string().describe("out: the destination; db: the database; empty for endpoints"),
              route: z.string().describe("the route, or for a query its statement digest"),
              kind: z.enum(["slower", "errors", "unchanged"]),
              callsFrom: z.number(),
              callsTo: z.number(),
              meanMsFrom: z.number(),
              meanMsTo: z.number(),
              ratio: z.number().nullable().describe("mean latency to / from"),
              ciLow: z.number().nullable(),
              ciHigh: z.number().nullable(),
              errorRateFrom: z.number(),
              errorRateTo: z.number(),
              trafficRatio: z.number().describe("calls per window to / from: latency that rose with traffic may be load"),
            }),
          )
          .describe("HTTP endpoints served, HTTP calls made and database queries run, with 350+ calls a side: slower (2x, interval above +50 %) or errors (a jump in the share of failures)"),
      },
    },
    guarded(async ({ from, to, service, limit }) =>
      withDb((db) => {
        const diff = diffDeployments(db, { from, to, service });
        const finite = (n: number): number | null => (Number.isFinite(n) ? n : null);
        return result({
          service: diff.service,
          from: diff.from,
          to: diff.to,
          enough: diff.enough,
          windows: { from: diff.windowsA, to: diff.windowsB },
          processes: { from: diff.groupsA, to: diff.groupsB },
          processSpread: diff.processSpread,
          loadRatio: diff.loadRatio,
          changes: diff.changes.slice(0, limit ?? 20).map((c) => ({
            name: c.name,
            file: c.file || null,
            line: c.line,
            package: c.package,
            packageVersion: c.packageVersion,
            kind: c.kind,
            shareFrom: c.shareA,
            shareTo: c.shareB,
            ratio: finite(c.ratio),
            ciLow: finite(c.ciLow),
            ciHigh: finite(c.ciHigh),
            ...attributionShares(c.attribution),
          })),
          endpoints: diff.endpoints.slice(0, limit ?? 20).map((e) => ({
            direction: e.direction,
            method: e.method,
            host: e.host,
            route: e.route,
            kind: e.kind,
            callsFrom: e.callsA,
            callsTo: e.callsB,
            meanMsFrom: e.meanMsA,
            meanMsTo: e.meanMsB,
            ratio: finite(e.ratio),
            ciLow: finite(e.ciLow),
            ciHigh: finite(e.ciHigh),
            errorRateFrom: e.errorRateA,
            errorRateTo: e.errorRateB,
            trafficRatio: e.trafficRatio,
          })),
        });
      }),
    ),
  );

  server.registerTool(
    "get_spike_profile",
    {
      title: "A CPU spike's profile, summarized",
      description:
        "The high-resolution profile Seismo took during a CPU spike, summarized: the heaviest call stacks (outermost frame first) with their share of the spike's CPU, the burst's sampling interval and sample count, and the culprits. Not the raw profile (megabytes): `seismo profile ID -o file.cpuprofile` writes that.",
      inputSchema: { id: z.string().describe("A cpu_spike incident id (spk-…)") },
      outputSchema: {
        id: z.string(),
        burst: z.object({ startedAt: z.string(), endedAt: z.string(), samplingIntervalUs: z.number(), samples: z.number(), cpuMs: z.number() }).passthrough(),
        stacks: z.array(z.object({ frames: z.array(frame), share: z.number(), samples: z.number() })),
        culprits: z.array(culprit),
      },
    },
    guarded(async ({ id }) =>
      withDb((db) => {
        const incident = getIncident(db, id);
        if (incident.kind !== "cpu_spike") throw new Error(`${incident.id} is a ${incident.kind}, not a CPU spike: it has no spike profile (call get_incident).`);
        return result({ id: incident.id, burst: incident.details.burst, stacks: incident.details.topStacks, culprits: incident.culprits.map(culpritOf) });
      }),
    ),
  );

  server.registerTool(
    "query",
    {
      title: "Read-only SQL over Seismo's database",
      description: `One SELECT over Seismo's SQLite database, on a read-only connection, for what the other tools do not answer. At most ${QUERY_MAX_ROWS} rows and about 1 MB in all (cells over 4,096 characters are cut, marked "… [cut: N more characters]"; rows past 1 MB are left out, with truncated and cutForSize true); stopped after ${QUERY_TIMEOUT_MS / 1000} s; two at a time. Writes, PRAGMA, ATTACH and DETACH are refused.\n${schemaText()}`,
      inputSchema: { sql: z.string().describe("One SELECT (or WITH … SELECT) statement") },
      outputSchema: { columns: z.array(z.string()), rows: z.array(z.array(z.unknown())), truncated: z.boolean(), cutForSize: z.boolean(), elapsedMs: z.number() },
      annotations: { readOnlyHint: true },
    },
    guarded(async ({ sql }) => result({ ...(await readOnlyQuery(dbPath, sql, { maxRows: QUERY_MAX_ROWS, timeoutMs: QUERY_TIMEOUT_MS })) })),
  );
}
