import { describe, expect, it } from "vitest";
import type { EndpointWindowSample } from "../src/regressions/endpoint-compare.js";
import { compareEndpoints, describeEndpointChange } from "../src/regressions/endpoint-compare.js";

let seed = 11;
const jitter = (): number => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
  return 1 + 0.3 * (seed / 2_147_483_648 - 0.5);
};

/** "GET /x" as the key compareEndpoints reads: method, host (none for an endpoint), route. */
const keyOf = (text: string): string => text.replace(" ", "\u0000\u0000");

/** `windows` windows of one process; each endpoint: [calls per window, mean ms, 5xx per window]. */
function side(windows: number, endpoints: Record<string, [number, number, number]>, group = "p1"): EndpointWindowSample[] {
  return Array.from({ length: windows }, () => ({
    group,
    endpoints: new Map(Object.entries(endpoints).map(([key, [calls, meanMs, errors]]) => [keyOf(key), { calls, totalMs: calls * meanMs * jitter(), errors }])),
  }));
}

describe("endpoint comparison between deployments", () => {
  it("names an endpoint 2.4x slower and one whose 5xx share jumped; leaves alone the unchanged, the 50 % slower and the rarely called", () => {
    const a = side(40, { "GET /orders/:id": [20, 10, 0], "GET /health": [20, 1, 0], "POST /checkout": [20, 30, 0], "GET /reports/:id": [20, 5, 0], "GET /rare": [2, 5, 0] });
    const b = side(30, { "GET /orders/:id": [20, 24, 0], "GET /health": [20, 1, 0], "POST /checkout": [20, 30, 4], "GET /reports/:id": [20, 7.5, 0], "GET /rare": [2, 50, 0] });
    const changes = compareEndpoints(a, b);
    const byKey = new Map(changes.map((c) => [`${c.method} ${c.route}`, c]));
    expect(byKey.get("POST /checkout")).toMatchObject({ kind: "errors", errorsA: 0, errorsB: 120, errorRateB: 0.2 });
    const orders = byKey.get("GET /orders/:id");
    expect(orders?.kind).toBe("slower");
    expect(orders?.ratio).toBeGreaterThan(2.2);
    expect(orders?.ratio).toBeLessThan(2.6);
    expect(orders?.ciLow).toBeGreaterThan(2);
    expect(orders?.trafficRatio).toBeCloseTo(1, 5);
    expect(byKey.get("GET /health")?.kind).toBe("unchanged");
    // +50 %: under the 2x bar, whatever its interval (latency also follows load).
    expect(byKey.get("GET /reports/:id")?.kind).toBe("unchanged");
    // 10x slower, but 60 calls after: too few to judge (350 a side).
    expect(byKey.has("GET /rare")).toBe(false);
    // Changed first: errors, then slower.
    expect(changes.slice(0, 2).map((c) => c.kind)).toEqual(["errors", "slower"]);
    expect(describeEndpointChange(orders!)).toMatch(/^`GET \/orders\/:id` mean latency \+\d+ % \(95 % CI \+\d+…\+\d+ %\), 10\.\d → 2\d\.\d ms$/);
    expect(describeEndpointChange(byKey.get("POST /checkout")!)).toBe("`POST /checkout` 5xx 0.0 % → 20.0 % of 600 calls");
    // Twice the calls per window: said, since latency that rose with traffic may be load.
    const busier = compareEndpoints(a, side(30, { "GET /orders/:id": [40, 24, 0] }));
    expect(describeEndpointChange(busier[0]!)).toMatch(/ at 2\.0× the traffic$/);
    // A query, 3x slower: named with its database.
    const query = (ms: number): EndpointWindowSample[] =>
      Array.from({ length: 30 }, () => ({ endpoints: new Map([["SELECT\u0000postgresql://db:5432/shop\u0000SELECT * FROM orders WHERE id = $1", { calls: 20, totalMs: 20 * ms * jitter(), errors: 0 }]]) }));
    const [slowQuery] = compareEndpoints(query(2), query(6), undefined, "db");
    expect(slowQuery).toMatchObject({ direction: "db", method: "SELECT", host: "postgresql://db:5432/shop", kind: "slower" });
    expect(describeEndpointChange(slowQuery!)).toMatch(/^query `SELECT \* FROM orders WHERE id = \$1` on postgresql:\/\/db:5432\/shop mean latency \+\d+ %/);
  });

  it("does not name an endpoint whose interval reaches down to noise, however large its average change", () => {
    // 2.5x on average, but the latency swings from window to window by ±90 %: the interval says it may be less.
    let flip = 0;
    const noisy = (mean: number): EndpointWindowSample[] =>
      Array.from({ length: 24 }, () => ({ group: "p", endpoints: new Map([[keyOf("GET /x"), { calls: 15, totalMs: 15 * mean * (flip++ % 2 ? 1.9 : 0.1), errors: 0 }]]) }));
    const [change] = compareEndpoints(noisy(10), noisy(25));
    expect(change?.ratio).toBeGreaterThan(2);
    expect(change?.ciLow).toBeLessThan(1.5);
    expect(change?.kind).toBe("unchanged");
  });
});
