import { describe, expect, it } from "vitest";
import type { EndpointWindowSample } from "../src/index.js";
import { compareEndpoints, describeEndpointChange } from "../src/index.js";

let seed = 11;
const jitter = (): number => {
  seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
  return 1 + 0.3 * (seed / 2_147_483_648 - 0.5);
};

/** `windows` windows of one process; each endpoint: [calls per window, mean ms, 5xx per window]. */
function side(windows: number, endpoints: Record<string, [number, number, number]>, group = "p1"): EndpointWindowSample[] {
  return Array.from({ length: windows }, () => ({
    group,
    endpoints: new Map(Object.entries(endpoints).map(([key, [calls, meanMs, errors]]) => [key, { calls, totalMs: calls * meanMs * jitter(), errors }])),
  }));
}

describe("endpoint comparison between deployments", () => {
  it("names an endpoint 80 % slower and one whose 5xx share jumped; leaves alone the unchanged, the mildly slower and the rarely called", () => {
    const a = side(40, { "GET /orders/:id": [20, 10, 0], "GET /health": [20, 1, 0], "POST /checkout": [10, 30, 0], "GET /reports/:id": [20, 5, 0], "GET /rare": [2, 5, 0] });
    const b = side(30, { "GET /orders/:id": [20, 18, 0], "GET /health": [20, 1, 0], "POST /checkout": [10, 30, 2], "GET /reports/:id": [20, 6, 0], "GET /rare": [2, 50, 0] });
    const changes = compareEndpoints(a, b);
    const byKey = new Map(changes.map((c) => [`${c.method} ${c.route}`, c]));
    expect(byKey.get("POST /checkout")).toMatchObject({ kind: "errors", errorsA: 0, errorsB: 60, errorRateB: 0.2 });
    const orders = byKey.get("GET /orders/:id");
    expect(orders?.kind).toBe("slower");
    expect(orders?.ratio).toBeGreaterThan(1.6);
    expect(orders?.ratio).toBeLessThan(2);
    expect(orders?.ciLow).toBeGreaterThan(1.5);
    expect(byKey.get("GET /health")?.kind).toBe("unchanged");
    // +20 %: under the +50 % bar, whatever its interval.
    expect(byKey.get("GET /reports/:id")?.kind).toBe("unchanged");
    // 10x slower, but 60 calls after: too few to judge.
    expect(byKey.has("GET /rare")).toBe(false);
    // Changed first: errors, then slower.
    expect(changes.slice(0, 2).map((c) => c.kind)).toEqual(["errors", "slower"]);
    expect(describeEndpointChange(orders!)).toMatch(/^`GET \/orders\/:id` mean latency \+\d+ % \(95 % CI \+\d+…\+\d+ %\), 10\.\d → 1\d\.\d ms$/);
    expect(describeEndpointChange(byKey.get("POST /checkout")!)).toBe("`POST /checkout` 5xx 0.0 % → 20.0 % of 300 calls");
  });

  it("does not name an endpoint whose interval reaches down to noise, however large its average change", () => {
    // +60 % on average, but the latency swings from window to window by ±60 %: the interval says it may be noise.
    let flip = 0;
    const noisy = (mean: number): EndpointWindowSample[] =>
      Array.from({ length: 20 }, () => ({ group: "p", endpoints: new Map([["GET /x", { calls: 15, totalMs: 15 * mean * (flip++ % 2 ? 1.6 : 0.4), errors: 0 }]]) }));
    const [change] = compareEndpoints(noisy(10), noisy(16));
    expect(change?.ratio).toBeGreaterThan(1.5);
    expect(change?.ciLow).toBeLessThan(1.2);
    expect(change?.kind).toBe("unchanged");
  });
});
