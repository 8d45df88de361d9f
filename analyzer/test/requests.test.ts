import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CapturedValue, ProfileWindow, RequestExemplar } from "@seismo/agent-proto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { sampleEvents } from "../../agent-proto/test/sample-events.js";
import { plainValue } from "../src/requests/plain-value.js";
import { getRequest, listRequests, requestViewId } from "../src/requests/request-store.js";
import { describeRequest, routeRequests } from "../src/requests/request-summary.js";
import type { IncidentView } from "../src/incidents/incident.js";
import { AGENT_VOCABULARY, triageFor } from "../src/report/triage.js";
import type { Db } from "../src/store/database.js";
import { openDatabase } from "../src/store/database.js";
import { EventStore } from "../src/store/event-store.js";

const failed = sampleEvents.request.body as RequestExemplar;
const slow: RequestExemplar = {
  ...failed,
  requestId: `${failed.target.targetId}:request:1763000031000-8`,
  startedAtMs: failed.startedAtMs + 2_000,
  route: "/api/orders",
  status: 200,
  durationMs: 812,
  keptBecause: "slow",
  steps: [{ ...(failed.steps[0] as RequestExemplar["steps"][number]), statement: "SELECT * FROM orders", durationMs: 790, rows: 12, errorCode: "", errorMessage: "" }],
  error: null,
  params: null,
  query: null,
};

let dir: string;
let db: Db;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "seismo-requests-"));
  db = openDatabase(join(dir, "seismo.db"));
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const value = (name: string, type: string, v: string, children: CapturedValue[] = [], truncated = "", omitted = 0): CapturedValue => ({ name, type, value: v, children, truncated, omitted });

describe("kept requests", () => {
  it("are stored once, listed newest first with their queries, calls and error, filtered, found by a prefix, and pruned", () => {
    const store = new EventStore(db);
    expect(store.recordRequest(failed, 1)).toBe(true);
    expect(store.recordRequest(failed, 2)).toBe(false); // redelivered
    expect(store.recordRequest(slow, 3)).toBe(true);
    const all = listRequests(db);
    expect(all.map((r) => [r.route, r.keptBecause])).toEqual([
      ["/api/orders", "slow"],
      ["/api/orders/:id", "error"],
    ]);
    const [, error] = all;
    expect(error).toMatchObject({
      id: requestViewId(failed.requestId),
      service: "shop",
      method: "GET",
      status: 500,
      params: { path: { id: "17" }, query: { token: "[redacted]" }, headers: null, body: null },
      queries: [{ statement: "SELECT * FROM missing_table WHERE id = $1", rows: null, error: { code: "42P01", message: 'relation "missing_table" does not exist' } }],
      calls: [{ method: "GET", host: "127.0.0.1:9000", route: "/stock/:id", status: 200 }],
      error: { type: "DatabaseError", appFrame: "async order (/app/src/orders.ts:31:17)", handledBy: "express" },
    });
    expect(listRequests(db, { errors: true }).map((r) => r.keptBecause)).toEqual(["error"]);
    expect(listRequests(db, { slow: true }).map((r) => r.durationMs)).toEqual([812]);
    expect(listRequests(db, { route: "/api/orders/:id" })).toHaveLength(1);
    expect(listRequests(db, { service: "elsewhere" })).toHaveLength(0);
    expect(getRequest(db, (error?.id ?? "").slice(0, 8)).route).toBe("/api/orders/:id");
    expect(() => getRequest(db, "req-ffffffffff")).toThrow(/No kept request "req-ffffffffff"/);
    store.prune(failed.startedAtMs + 1);
    expect(listRequests(db).map((r) => r.route)).toEqual(["/api/orders"]);
  });

  it("read as plain JSON: numbers as numbers, cuts and redactions said in place", () => {
    const tree = value("body", "Object", "", [
      value("sku", "string", "A-1"),
      value("qty", "number", "3"),
      value("gift", "boolean", "true"),
      value("note", "string", "leave at", [], "length", 240),
      value("password", "string", "[redacted]", [], "redacted"),
      value("lines", "Array", "", [value("0", "Object", "", [], "depth")], "items", 4),
      value("extra", "undefined", ""),
      value("late", "…", "", [], "time"),
    ], "fields", 2);
    expect(plainValue(tree)).toEqual({
      sku: "A-1",
      qty: 3,
      gift: true,
      note: "leave at… (240 more characters)",
      password: "[redacted]",
      lines: ["[Object: not read, deeper than kept]", "… 4 more items"],
      extra: null,
      late: "[not read: out of time]",
      "…": "… 2 more fields",
    });
  });

  it("are told in a sentence: what failed and where in the app, or what took a slow one's time; counted per route", () => {
    const store = new EventStore(db);
    store.recordRequest(failed, 1);
    store.recordRequest(slow, 2);
    store.recordRequest({ ...failed, requestId: `${failed.requestId}-again`, startedAtMs: failed.startedAtMs + 500 }, 3);
    const [error] = listRequests(db, { errors: true });
    expect(describeRequest(error as never)).toBe(
      '`GET /api/orders/:id` 500 in 42 ms: query `SELECT * FROM missing_table WHERE id = $1` failed with 42P01 relation "missing_table" does not exist; DatabaseError at /app/src/orders.ts:31',
    );
    expect(describeRequest(listRequests(db, { slow: true })[0] as never)).toBe("`GET /api/orders` 200 in 812 ms (slow, over 500 ms): query `SELECT * FROM orders` took 790 ms (97 %)");
    const routes = routeRequests(db, { sinceMs: 0 });
    expect(routes.map((r) => [r.method, r.route, r.failed, r.slow])).toEqual([
      ["GET", "/api/orders/:id", 2, 0],
      ["GET", "/api/orders", 0, 1],
    ]);
    // The latest of the route's two.
    expect(routes[0]?.latest.id).toBe(requestViewId(`${failed.requestId}-again`));
    expect(routeRequests(db, { sinceMs: 0, routes: ["GET /api/orders"] }).map((r) => r.route)).toEqual(["/api/orders"]);
  });

  it("are in the triage brief of their endpoint's regression, from its deployment only, with the command (or MCP call) that shows one", () => {
    const store = new EventStore(db);
    store.recordWindow({ ...(sampleEvents.profile.body as ProfileWindow), startMs: failed.startedAtMs - 60_000, endMs: failed.startedAtMs - 50_000 }, 1);
    store.recordRequest(failed, 1);
    // The same route in another deployment: not this regression's.
    store.recordRequest({ ...failed, requestId: `${failed.requestId}-v41`, target: { ...failed.target, deployment: "v41" } }, 1);
    const endpoint = { direction: "in", method: "GET", host: "", route: "/api/orders/:id", kind: "errors", callsA: 900, callsB: 880, meanMsA: 12, meanMsB: 13, ratio: 1.08, ciLow: 0.9, ciHigh: 1.2, errorRateA: 0, errorRateB: 0.05, trafficRatio: 1 };
    const incident = {
      id: "reg-0123456789",
      kind: "regression",
      service: "shop",
      deployment: "v42",
      previousDeployment: "v41",
      summary: "`GET /api/orders/:id` 5xx 0.0 % → 5.0 % since v42",
      startedAt: new Date(failed.startedAtMs + 30_000).toISOString(),
      endedAt: null,
      culprits: [],
      details: { windowsA: 30, windowsB: 30, previousDeployment: "v41", checkedAt: new Date(failed.startedAtMs + 30_000).toISOString(), endpoints: [endpoint] },
    } as unknown as IncidentView;
    const brief = triageFor(db, incident);
    expect(brief.requests.map((r) => [r.route, r.failed])).toEqual([["/api/orders/:id", 1]]);
    expect(brief.markdown).toMatch(/## Requests that failed or were slow\n\n- \*\*GET \/api\/orders\/:id\*\* \(shop\), 1 failed kept: `GET \/api\/orders\/:id` 500 in 42 ms: query `SELECT \* FROM missing_table WHERE id = \$1` failed with 42P01 .* \(`seismo show req-[0-9a-f]{10}`\)/);
    expect(brief.next.join("\n")).toMatch(/Read a failed request of GET \/api\/orders\/:id in full, its queries, calls and error: `seismo show req-/);
    expect(triageFor(db, incident, AGENT_VOCABULARY).next.join("\n")).toMatch(/call get_request with id req-[0-9a-f]{10}/);
  });
});
