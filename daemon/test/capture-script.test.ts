import { runInThisContext } from "node:vm";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { Drained, ProbeConfig, RawRemoval, RawSnapshot, RawThrown, RawValue } from "../src/capture/capture-script.js";
import { armExpression, CALLS_EXPRESSION, CAPTURE_BINDING, CAPTURE_MAX_QUEUED, conditionExpression, DEFAULT_CAPTURE_LIMITS, drainExpression, installExpression, THROWN_MAX_PER_SECOND } from "../src/capture/capture-script.js";

// The capture function is plain JavaScript meant for the target; here it runs in the test's own
// process, which is as real a V8 as any. What it queues is fetched as the daemon fetches it (the
// drain expression); what it pushes (uncaught exceptions) goes to a collector in place of the binding.
const fetched: RawSnapshot[] = [];
const fetchedRemovals: RawRemoval[] = [];
const pushed: RawThrown[] = [];
let lastDrain: Drained | undefined;
function fetchQueued(): void {
  lastDrain = runInThisContext(drainExpression(CAPTURE_BINDING)) as Drained;
  for (const m of lastDrain.messages) {
    if ("removed" in m) fetchedRemovals.push(m);
    else fetched.push(m);
  }
}
const delivered = (): RawSnapshot[] => {
  fetchQueued();
  return fetched;
};
const removals = (): RawRemoval[] => {
  fetchQueued();
  return fetchedRemovals;
};
/** A breakpoint on no script: the probe's hits are driven by calling the condition by hand. */
const nowhere = { lineNumber: 0, columnNumber: 0, urlRegex: "^seismo-test-nowhere$", condition: "false" };
const arm = (id: string, c: ProbeConfig): unknown => runInThisContext(armExpression(id, c, nowhere));
const g = globalThis as unknown as Record<string, unknown>;
beforeAll(() => {
  g[CAPTURE_BINDING] = (json: string) => {
    pushed.push(JSON.parse(json) as RawThrown);
  };
  expect(runInThisContext(installExpression())).toBe("installed");
  expect(runInThisContext(installExpression())).toBe("present");
});
afterAll(() => {
  delete g[CAPTURE_BINDING];
  delete g[Symbol.for("seismo.capture.v3") as unknown as string];
});

const config = (extra: Partial<ProbeConfig> = {}): ProbeConfig => ({ owner: CAPTURE_BINDING, hits: 3, expiresAtMs: Date.now() + 60_000, minIntervalMs: 0, limits: DEFAULT_CAPTURE_LIMITS, redact: [], ...extra });

/** Runs the breakpoint condition for `names` inside a function whose frame holds them. */
function hit(probeId: string, frame: Record<string, unknown>): boolean {
  const names = Object.keys(frame);
  const condition = conditionExpression(probeId, names);
  // The same closure shape a paused frame gives the condition: the names in scope, `this` bound.
  const fn = new Function(...names, `return ${condition};`) as (...args: unknown[]) => boolean;
  return fn.call({ orderId: "o-1" }, ...names.map((n) => frame[n]));
}

const child = (node: RawValue | undefined, name: string): RawValue | undefined => node?.c?.find((c) => c.n === name);

describe("the capture function", () => {
  it("captures arguments, locals and nested values exactly, returns false, and disarms after its hits", () => {
    arm("p1", config({ hits: 2 }));
    const order = { id: 42, customer: { name: "Ada", tier: "gold" }, items: [{ sku: "a", qty: 2 }], placedAt: new Date(0), note: undefined, tags: new Set(["x"]), meta: new Map([["k", 1]]) };
    expect(hit("p1", { order, total: 12.5, ok: true, big: 10n, missing: null })).toBe(false);
    expect(hit("p1", { order, total: 13 })).toBe(false);
    expect(hit("p1", { order, total: 14 })).toBe(false); // past its 2 hits: nothing
    const mine = delivered().filter((s) => s.id === "p1");
    expect(mine.map((s) => [s.hit, s.last])).toEqual([
      [1, false],
      [2, true],
    ]);
    const [first] = mine as [RawSnapshot];
    expect(first.locals.map((l) => [l.n, l.t, l.v])).toEqual([
      ["order", "Object", undefined],
      ["total", "number", "12.5"],
      ["ok", "boolean", "true"],
      ["big", "bigint", "10"],
      ["missing", "null", undefined],
    ]);
    const o = first.locals[0];
    expect(child(child(o, "customer"), "name")).toEqual({ n: "name", t: "string", v: "Ada" });
    expect(child(child(child(o, "items"), "0"), "qty")).toEqual({ n: "qty", t: "number", v: "2" });
    expect(child(o, "placedAt")).toEqual({ n: "placedAt", t: "Date", v: "1970-01-01T00:00:00.000Z" });
    expect(child(o, "note")).toEqual({ n: "note", t: "undefined" });
    expect(child(child(o, "tags"), "0")).toEqual({ n: "0", t: "string", v: "x" });
    expect(child(child(o, "meta"), "k")).toEqual({ n: "k", t: "number", v: "1" });
    expect(first.self).toMatchObject({ n: "this", t: "Object", c: [{ n: "orderId", t: "string", v: "o-1" }] });
    expect(first.costUs).toBeGreaterThanOrEqual(0);
  });

  it("marks every cut: depth, fields, items, string length, total bytes", () => {
    arm("p2", config({ hits: 1, limits: { ...DEFAULT_CAPTURE_LIMITS, maxBytes: 2_000 } }));
    const deep = { a: { b: { c: { d: 1 } } } };
    const wide = Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`f${i}`, i]));
    const long = "x".repeat(300);
    const many = Array.from({ length: 150 }, (_, i) => i);
    const huge = Array.from({ length: 100 }, () => "y".repeat(200));
    hit("p2", { deep, wide, long, many, huge });
    const s = delivered().find((d) => d.id === "p2") as RawSnapshot;
    const [d, w, l, m, h] = s.locals;
    expect(child(child(child(d, "a"), "b"), "c")).toEqual({ n: "c", t: "Object", x: "depth" });
    expect(w).toMatchObject({ x: "fields", o: 5 });
    expect(w?.c).toHaveLength(20);
    // Cut at 255 characters, but sent whole (within the redaction margin): the daemon redacts, then keeps 255.
    expect(l).toMatchObject({ t: "string", x: "length", o: 45, k: 255 });
    expect(l?.v).toHaveLength(300);
    expect(m).toMatchObject({ x: "items", o: 50 });
    expect(m?.c).toHaveLength(100);
    expect(h?.c?.some((c) => c.x === "bytes")).toBe(true);
  });

  it("redacts secret names before serializing, reads no getters, calls no user code, survives cycles and unreadable names", () => {
    arm("p3", config({ hits: 1 }));
    let getterRan = false;
    const user = { name: "Ada", password: "hunter2", headers: { authorization: "Bearer abc", "x-api-key": "k" }, get secretly() { getterRan = true; return 1; }, toJSON() { getterRan = true; return {}; } };
    const cyclic: Record<string, unknown> = { name: "loop" };
    cyclic.self = cyclic;
    const proxy = new Proxy({}, { ownKeys() { getterRan = true; return []; } });
    hit("p3", { user, cyclic, proxy, apiToken: "t-1" });
    const s = delivered().find((d) => d.id === "p3") as RawSnapshot;
    const json = JSON.stringify(s);
    expect(json).not.toContain("hunter2");
    expect(json).not.toContain("Bearer abc");
    expect(json).not.toContain("t-1");
    expect(child(s.locals[0], "password")).toEqual({ n: "password", t: "string", v: "[redacted]", x: "redacted" });
    expect(child(s.locals[0], "secretly")).toEqual({ n: "secretly", t: "accessor" });
    expect(getterRan).toBe(false);
    expect(child(s.locals[1], "self")).toEqual({ n: "self", t: "Object", v: "[circular]" });
    expect(s.locals[2]).toEqual({ n: "proxy", t: "Proxy" });
    // A name in its temporal dead zone, or not in scope at all, reads as unavailable.
    arm("p4", config({ hits: 1 }));
    const tdz = new Function(`return (() => { const r = ${conditionExpression("p4", ["late", "nowhere"])}; let late = 1; return r; })();`) as () => boolean;
    expect(tdz()).toBe(false);
    expect((delivered().find((d) => d.id === "p4") as RawSnapshot).locals).toEqual([
      { n: "late", t: "unavailable" },
      { n: "nowhere", t: "unavailable" },
    ]);
  });

  it("keeps to its rate and time-to-live, and an unknown probe costs nothing", () => {
    arm("p5", config({ hits: 5, minIntervalMs: 60_000 }));
    hit("p5", { a: 1 });
    hit("p5", { a: 2 });
    expect(delivered().filter((d) => d.id === "p5")).toHaveLength(1);
    arm("p6", config({ expiresAtMs: Date.now() - 1 }));
    hit("p6", { a: 1 });
    expect(delivered().filter((d) => d.id === "p6")).toHaveLength(0);
    expect(hit("nobody", { a: 1 })).toBe(false);
    // Each probe told the daemon when and why its breakpoint went.
    expect(removals().find((r) => r.id === "p1")).toEqual({ id: "p1", removed: "hits" });
    expect(removals().find((r) => r.id === "p6")).toEqual({ id: "p6", removed: "ttl" });
  });

  it("an error probe keeps each run's values and publishes those of the run the exception came from", () => {
    const api = (g[Symbol.for("seismo.capture.v3") as unknown as string] as { watchErrors(b: string): void; unwatchErrors(): boolean; thrown(e: unknown, origin: string): void });
    api.watchErrors(CAPTURE_BINDING);
    try {
      const site = { file: "/app/orders.js", line: 7 };
      arm("e1", config({ hits: 1, onError: site }));
      // The line runs three times; no snapshot yet: an error probe serializes nothing on a hit.
      expect(hit("e1", { qty: 3, apiKey: "k-1" })).toBe(false);
      hit("e1", { qty: 4, apiKey: "k-1" });
      hit("e1", { qty: 900, apiKey: "k-1" });
      expect(delivered().filter((d) => d.id === "e1")).toEqual([]);
      const thrownReports = (): RawThrown[] => pushed;

      // An exception from elsewhere: reported, with nothing captured.
      const other = new TypeError("x is undefined");
      other.stack = "TypeError: x is undefined\n    at render (/app/view.js:3:9)";
      api.thrown(other, "uncaughtException");
      expect(thrownReports().at(-1)).toEqual({ thrown: { name: "TypeError", message: "x is undefined", stack: ["render (/app/view.js:3:9)"], origin: "uncaughtException", at: expect.any(Number) } });

      // From the probe's line: the last run's values go with it, and the probe is done.
      const error = new RangeError("quantity 900 too large");
      error.stack = "RangeError: quantity 900 too large\n    at checkQuantity (/app/orders.js:7:28)\n    at Immediate.<anonymous> (/app/server.js:20:3)";
      api.thrown(error, "uncaughtException");
      const report = thrownReports().at(-1);
      expect(report?.thrown).toMatchObject({ name: "RangeError", message: "quantity 900 too large", stack: ["checkQuantity (/app/orders.js:7:28)", "Immediate.<anonymous> (/app/server.js:20:3)"] });
      expect(report?.captured).toMatchObject({ id: "e1", hit: 1, last: true, stack: ["checkQuantity (/app/orders.js:7:28)", "Immediate.<anonymous> (/app/server.js:20:3)"] });
      expect(report?.captured?.locals).toEqual([
        { n: "qty", t: "number", v: "900" },
        { n: "apiKey", t: "string", v: "[redacted]", x: "redacted" },
      ]);
      expect(removals().find((r) => r.id === "e1")).toEqual({ id: "e1", removed: "hits" });

      // A thrown non-Error is reported by type and text.
      api.thrown("plain text", "unhandledRejection");
      expect(thrownReports().at(-1)?.thrown).toMatchObject({ name: "string", message: "plain text", stack: [], origin: "unhandledRejection" });
    } finally {
      expect(api.unwatchErrors()).toBe(true);
    }
  });

  it("an error probe on a line that runs too often removes itself", () => {
    arm("e2", config({ hits: 1, onError: { file: "/app/hot.js", line: 1 } }));
    for (let i = 0; i <= 50; i++) hit("e2", { i });
    expect(removals().find((r) => r.id === "e2")).toEqual({ id: "e2", removed: "hot" });
  });

  it("a rate-limited probe rests between snapshots: no trap until the next one is allowed", async () => {
    // A real breakpoint, in a script of this process: the condition runs only where V8 traps.
    const file = "/seismo-test/rest.js";
    const source = "(function lineTotal(qty, price) { const total = qty * price; return total; })";
    const lineTotal = runInThisContext(source, { filename: file }) as (qty: number, price: number) => number;
    const breakpoint = { lineNumber: 0, columnNumber: source.indexOf("const"), urlRegex: "^(file://)?/seismo-test/rest\\.js$", condition: conditionExpression("r1", ["qty", "price"]) };
    const calls = (): number => runInThisContext(CALLS_EXPRESSION) as number;
    const mine = (): RawSnapshot[] => delivered().filter((d) => d.id === "r1");
    const before = calls();
    expect(runInThisContext(armExpression("r1", config({ hits: 3, minIntervalMs: 40 }), breakpoint))).toEqual({ resolved: true });
    let ran = 0;
    for (; ran < 20_000; ran++) lineTotal(ran, 2);
    // One trap, one snapshot, then the breakpoint is gone: 19,999 calls ran free.
    expect(calls() - before).toBe(1);
    expect(mine().map((s) => s.locals.map((l) => l.v))).toEqual([["0", "2"]]);
    // It is set again once the interval has passed (by the target's own timer), for the next call.
    await vi.waitFor(() => {
      for (let i = 0; i < 1_000; i++, ran++) lineTotal(ran, 2);
      expect(mine()).toHaveLength(3);
    }, { timeout: 2_000, interval: 5 });
    const [first, second, third] = mine() as [RawSnapshot, RawSnapshot, RawSnapshot];
    expect(second.at - first.at).toBeGreaterThanOrEqual(40);
    expect(third.at - second.at).toBeGreaterThanOrEqual(40);
    expect(third.last).toBe(true);
    // Every trap was a snapshot: none between them, none after the last.
    for (let i = 0; i < 10_000; i++, ran++) lineTotal(ran, 2);
    expect(calls() - before).toBe(3);
    expect(ran).toBeGreaterThan(30_000);
    expect(removals().find((r) => r.id === "r1")).toEqual({ id: "r1", removed: "hits" });
  });

  it("pushes nothing but uncaught exceptions: snapshots wait for the daemon's fetch, and the queue is bounded", async () => {
    fetchQueued();
    const pushedBefore = pushed.length;
    const over = 5;
    arm("q1", config({ hits: CAPTURE_MAX_QUEUED + over }));
    for (let i = 0; i < CAPTURE_MAX_QUEUED + over; i++) hit("q1", { i });
    // Nothing went out by itself: a daemon that died would have nothing written to its connection.
    expect(pushed.length).toBe(pushedBefore);
    fetchQueued();
    expect(lastDrain?.messages.filter((m) => m.id === "q1")).toHaveLength(CAPTURE_MAX_QUEUED);
    expect(lastDrain?.dropped).toBe(over);
    // A skipped hit is not counted against the probe: its last snapshots come after the fetch.
    for (let i = 0; i < over; i++) hit("q1", { i: 1000 + i });
    fetchQueued();
    expect(lastDrain?.messages.map((m) => ("hit" in m ? m.hit : m.removed))).toEqual([101, 102, 103, 104, 105, "hits"]);
    expect(lastDrain?.dropped).toBe(0);

    // Two daemons on one target (a sidecar and a capture by hand): each fetches what it armed, only that.
    arm("o1", config({ owner: "__seismoCaptureOther", hits: 1 }));
    hit("o1", { i: 1 });
    fetchQueued();
    expect(lastDrain?.messages.filter((m) => m.id === "o1")).toEqual([]);
    const other = runInThisContext(drainExpression("__seismoCaptureOther")) as Drained;
    expect(other.messages.map((m) => ("hit" in m ? m.hit : m.removed))).toEqual([1, "hits"]);

    // An app that throws in a loop (with a handler that keeps it alive) is reported at a bounded rate.
    const api = g[Symbol.for("seismo.capture.v3") as unknown as string] as { watchErrors(b: string): void; unwatchErrors(): boolean; thrown(e: unknown, origin: string): void };
    api.watchErrors(CAPTURE_BINDING);
    try {
      // The rate is per second of the target's clock: start in a second of its own, after the earlier tests' reports.
      await new Promise((resolve) => setTimeout(resolve, 1_050));
      const before = pushed.length;
      for (let i = 0; i < THROWN_MAX_PER_SECOND + 3; i++) api.thrown(new Error(`retry ${i}`), "uncaughtException");
      expect(pushed.length - before).toBe(THROWN_MAX_PER_SECOND);
      fetchQueued();
      expect(lastDrain?.droppedThrown).toBe(3);
    } finally {
      api.unwatchErrors();
    }
  });
});
