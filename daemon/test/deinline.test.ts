import { describe, expect, it } from "vitest";
import { deinlineProfile } from "../src/attribution/deinline.js";
import { buildFunctionTable } from "../src/attribution/function-table.js";
import type { FunctionTable } from "../src/attribution/function-table.js";
import { ObservedCalls } from "../src/attribution/observed-calls.js";
import { aggregateProfile } from "../src/sampler/aggregate.js";
import type { CallFrame, CpuProfile, ProfileNode } from "../src/sampler/cpu-profile.js";

const SERVER = "file:///app/server.js";
const PRICING = "file:///app/pricing.js";
const SERVER_SOURCE = [
  "const { price } = require('./pricing.js');", // 1
  "function tax(v) {", // 2
  "  let t = 0;", // 3
  "  for (let i = 0; i < 20; i++) t += (v ^ i) & 3;", // 4
  "  return t;", // 5
  "}", // 6
  "function handle(n) {", // 7
  "  let a = 0;", // 8
  "  for (let k = 0; k < 50; k++) a += tax(n + k) + price(n - k);", // 9
  "  return a;", // 10
  "}", // 11
  "function unrelated() {", // 12
  "  return 1;", // 13
  "}", // 14
].join("\n");
const PRICING_SOURCE = [
  "// pricing", // 1
  "", // 2
  "", // 3
  "", // 4
  "", // 5
  "", // 6
  "", // 7
  "", // 8
  "", // 9
  "", // 10
  "", // 11
  "function price(x) {", // 12
  "  let s = 0;", // 13
  "  for (let i = 0; i < 20; i++) s += (x * i) % 7;", // 14
  "  return s;", // 15
  "}", // 16
  "module.exports = { price };", // 17
].join("\n");

const tables = new Map<string, FunctionTable | undefined>([
  [SERVER, buildFunctionTable(SERVER_SOURCE)],
  [PRICING, buildFunctionTable(PRICING_SOURCE)],
]);
const sources = { tableOf: (url: string) => tables.get(url) };

const frame = (functionName: string, url: string, line: number, column: number, scriptId = url === SERVER ? "7" : "8"): CallFrame => ({ functionName, url, lineNumber: line, columnNumber: column, scriptId });
const ROOT = frame("(root)", "", -1, -1, "0");
const HANDLE = frame("handle", SERVER, 6, 15);
const TAX = frame("tax", SERVER, 1, 12);
const PRICE = frame("price", PRICING, 11, 14);

/** A profile whose nodes are [id, frame, parent, ticks by line]; samples follow the ticks (one sample per tick). */
function profileOf(spec: Array<[number, CallFrame, number, Record<number, number>]>): CpuProfile {
  const nodes: ProfileNode[] = spec.map(([id, callFrame, , ticks]) => ({
    id,
    callFrame,
    hitCount: Object.values(ticks).reduce((a, b) => a + b, 0),
    children: spec.filter(([, , parent]) => parent === id).map(([child]) => child),
    positionTicks: Object.entries(ticks).map(([line, count]) => ({ line: Number(line), ticks: count })),
  }));
  const samples: number[] = [];
  for (const node of nodes) for (let i = 0; i < (node.hitCount ?? 0); i++) samples.push(node.id);
  return { nodes, startTime: 0, endTime: samples.length * 1_000, samples, timeDeltas: samples.map(() => 1_000) };
}

const selfOf = (profile: CpuProfile, name: string): number => aggregateProfile(profile).functions.find((f) => f.name === name)?.selfSamples ?? 0;

describe("de-inlining", () => {
  it("moves a tick line that lies in another function of the same script to that function, under the caller", () => {
    // V8 charged handle with lines 4 and 5: tax's code, inlined.
    const raw = profileOf([
      [1, ROOT, 0, {}],
      [2, HANDLE, 1, { 9: 10, 4: 60, 5: 5 }],
    ]);
    const { profile, stats } = deinlineProfile(raw, sources, new ObservedCalls());
    expect(selfOf(profile, "tax")).toBe(65);
    expect(selfOf(profile, "handle")).toBe(10);
    const tax = profile.nodes.find((n) => n.callFrame.functionName === "tax");
    expect(tax?.attribution).toMatchObject({ synthetic: true, inlinedSamples: 65 });
    expect(tax?.callFrame).toMatchObject({ url: SERVER, lineNumber: 1, columnNumber: 12, scriptId: "7" });
    expect(profile.nodes.find((n) => n.id === 2)?.children).toContain(tax?.id);
    // Every sample is still there, and the totals did not move: handle still holds all 75.
    expect(profile.samples).toHaveLength(75);
    const handle = aggregateProfile(profile).functions.find((f) => f.name === "handle");
    expect(handle?.totalSamples).toBe(75);
    expect(stats).toMatchObject({ nodesSplit: 1, movedSamples: 65, uncertainSamples: 0 });
    // The input is not changed.
    expect(raw.nodes[1]?.positionTicks).toHaveLength(3);
  });

  it("moves an inlined helper's lines out of an async arrow handler, which V8 places at its `async`", () => {
    const ASYNC = "file:///app/routes.js";
    const source = [
      "const express = require('express');", // 1
      "const router = express.Router();", // 2
      "const slug = (name) => name.toLowerCase().replace(/[^a-z0-9]+/g, '-');", // 3
      "router.get('/products', async (req, res) => {", // 4
      "  const rows = await load();", // 5
      "  res.json(rows.map((p) => slug(p.name)));", // 6
      "});", // 7
    ].join("\n");
    const table = buildFunctionTable(source);
    const only = { tableOf: (url: string) => (url === ASYNC ? table : undefined) };
    // V8's frame for the handler: line 3 (0-based), at the "a" of `async`; the helper's line 3 (1-based) charged to it.
    const handler = frame("", ASYNC, 3, source.split("\n")[3]?.indexOf("async") ?? -1, "9");
    const raw = profileOf([
      [1, ROOT, 0, {}],
      [2, handler, 1, { 6: 10, 3: 30 }],
    ]);
    const { profile, stats } = deinlineProfile(raw, only, new ObservedCalls());
    expect(stats).toMatchObject({ framesUnmatched: 0, movedSamples: 30 });
    expect(selfOf(profile, "slug")).toBe(30);
  });

  it("spreads the moved samples over the node's sample times, not in one block", () => {
    const raw = profileOf([
      [1, ROOT, 0, {}],
      [2, HANDLE, 1, { 9: 50, 4: 50 }],
    ]);
    const { profile } = deinlineProfile(raw, sources, new ObservedCalls());
    const taxId = profile.nodes.find((n) => n.callFrame.functionName === "tax")?.id;
    const firstHalf = (profile.samples ?? []).slice(0, 50).filter((id) => id === taxId).length;
    expect(firstHalf).toBeGreaterThanOrEqual(24);
    expect(firstHalf).toBeLessThanOrEqual(26);
  });

  it("gives a line of another script to the one observed callee that covers it", () => {
    const observed = new ObservedCalls();
    // Before TurboFan inlined it, price showed as handle's child.
    observed.learn(profileOf([
      [1, ROOT, 0, {}],
      [2, HANDLE, 1, { 9: 1 }],
      [3, PRICE, 2, { 14: 3 }],
    ]));
    // Line 14 is not in any function of server.js: only price's.
    const { profile } = deinlineProfile(profileOf([
      [1, ROOT, 0, {}],
      [2, HANDLE, 1, { 9: 5, 14: 40 }],
    ]), sources, observed);
    expect(selfOf(profile, "price")).toBe(40);
    expect(profile.nodes.find((n) => n.callFrame.functionName === "price")?.callFrame).toMatchObject({ url: PRICING, scriptId: "8" });
  });

  it("keeps a line that fits a same-script callee and an observed callee of another script on the caller, marked with both", () => {
    const observed = observedFrom(HANDLE);
    // Line 4 is tax's, and pricing.js line 4 is blank: tax alone. Line 13 is `unrelated` in
    // server.js (handle never calls it) and price's `let s` in pricing.js: price.
    const { profile, stats } = deinlineProfile(profileOf([
      [1, ROOT, 0, {}],
      [2, HANDLE, 1, { 9: 5, 4: 20, 13: 7 }],
    ]), sources, observed);
    expect(selfOf(profile, "tax")).toBe(20);
    expect(selfOf(profile, "price")).toBe(7);
    expect(selfOf(profile, "unrelated")).toBe(0);
    expect(stats.uncertainSamples).toBe(0);

    // Line 14 in price and in a tax that handle calls (made to span it): the line cannot tell.
    const longTax = SERVER_SOURCE.replace("function tax(v) {", "function tax(v) {" + "\n".repeat(10));
    const ambiguous = new Map(tables);
    ambiguous.set(SERVER, buildFunctionTable(longTax));
    const result = deinlineProfile(profileOf([
      [1, ROOT, 0, {}],
      [2, { ...HANDLE, lineNumber: 16 }, 1, { 14: 30 }],
    ]), { tableOf: (url) => ambiguous.get(url) }, observedFrom({ ...HANDLE, lineNumber: 16 }));
    const handle = result.profile.nodes.find((n) => n.id === 2);
    expect(handle?.attribution?.uncertainSamples).toBe(30);
    expect(handle?.attribution?.candidates.map((c) => c.functionName).sort()).toEqual(["price", "tax"]);
    expect(selfOf(result.profile, "handle")).toBe(30); // kept where V8 put it
    const stat = aggregateProfile(result.profile).functions.find((f) => f.name === "handle");
    expect(stat?.uncertainSamples).toBe(30);
    expect(stat?.inlineCandidates.sort()).toEqual(["price (app/pricing.js:12)", "tax (app/server.js:2)"]);
  });

  it("does not take a dispatcher's lines for the code of the many functions it calls through a value (a megamorphic site TurboFan does not inline)", () => {
    const ROUTER = "file:///app/router.js";
    const MIDDLEWARE = "file:///app/middleware.js";
    const routerSource = ["function dispatch(req, chain) {", "  let i = 0;", "  const n = chain.length;", "  while (i < n) {", "    const fn = chain[i++];", "    fn(req);", "  }", "  return req;", "}"].join("\n");
    // Five three-line middlewares: line 8 is `return req;` in dispatch and a line of the third one.
    const middlewareSource = Array.from({ length: 5 }, (_, i) => `function m${i}(req) {\n  req.n = ${i};\n}`).join("\n");
    const both = new Map([[ROUTER, buildFunctionTable(routerSource)], [MIDDLEWARE, buildFunctionTable(middlewareSource)]]);
    const dispatch = frame("dispatch", ROUTER, 0, 17, "9");
    const middleware = (i: number): CallFrame => frame(`m${i}`, MIDDLEWARE, i * 3, 11, "10");
    const seenCalling = (count: number): ObservedCalls => {
      const observed = new ObservedCalls();
      observed.learn(profileOf([[1, ROOT, 0, {}], [2, dispatch, 1, { 6: 1 }], ...Array.from({ length: count }, (_, i): [number, CallFrame, number, Record<number, number>] => [3 + i, middleware(i), 2, { [i * 3 + 2]: 1 }])]));
      return observed;
    };
    const ticks = profileOf([[1, ROOT, 0, {}], [2, dispatch, 1, { 6: 10, 8: 20 }]]);
    // Seen calling one middleware: line 8 may be its inlined code, and says it cannot tell.
    const few = deinlineProfile(ticks, { tableOf: (url) => both.get(url) }, seenCalling(3));
    expect(few.profile.nodes.find((n) => n.id === 2)?.attribution?.candidates.map((c) => c.functionName)).toEqual(["m2"]);
    // Seen calling all five through `fn(req)`: that site is megamorphic, line 8 is dispatch's own.
    const many = deinlineProfile(ticks, { tableOf: (url) => both.get(url) }, seenCalling(5));
    expect(many.stats.uncertainSamples).toBe(0);
    expect(selfOf(many.profile, "dispatch")).toBe(30);
  });

  it("leaves frames alone when the script has no table, or the frame matches no function (a changed file)", () => {
    const raw = profileOf([
      [1, ROOT, 0, {}],
      [2, { ...HANDLE, url: "file:///app/gone.js" }, 1, { 4: 10 }],
      [3, { ...HANDLE, columnNumber: 3 }, 1, { 4: 10 }],
    ]);
    const { profile, stats } = deinlineProfile(raw, sources, new ObservedCalls());
    expect(profile).toBe(raw);
    expect(stats).toMatchObject({ scriptsUnavailable: 1, framesUnmatched: 1, nodesSplit: 0 });
  });
});

/** What V8 showed before inlining: `caller` calling price (pricing.js) and tax (server.js). */
function observedFrom(caller: CallFrame): ObservedCalls {
  const observed = new ObservedCalls();
  observed.learn(profileOf([
    [1, ROOT, 0, {}],
    [2, caller, 1, { 17: 1 }],
    [3, PRICE, 2, { 14: 3 }],
    [4, TAX, 2, { 4: 3 }],
  ]));
  return observed;
}

describe("lines that fit two functions", () => {
  it("are split by how each spends its time where V8 showed it un-inlined (an estimate)", () => {
    // tax made to span lines 2-16 of server.js, so its lines overlap price's 12-16 in pricing.js.
    const server = buildFunctionTable(SERVER_SOURCE.replace("function tax(v) {", "function tax(v) {" + "\n".repeat(10)));
    const caller = { ...HANDLE, lineNumber: 16 };
    const observed = new ObservedCalls();
    // Before inlining: price spent 90 % on its line 14 and 10 % on 15; tax 80 % on 4, 20 % on 14.
    observed.learn(profileOf([
      [1, ROOT, 0, {}],
      [2, caller, 1, { 19: 2 }],
      [3, PRICE, 2, { 14: 90, 15: 10 }],
      [4, TAX, 2, { 4: 80, 14: 20 }],
    ]));
    // Inlined: line 4 is tax's alone (weight 50), line 15 price's alone once tax is seen never to
    // use it (weight 100), so line 14 splits 10 : 90.
    const { profile, stats } = deinlineProfile(profileOf([
      [1, ROOT, 0, {}],
      [2, caller, 1, { 19: 5, 4: 40, 14: 100, 15: 10 }],
    ]), { tableOf: (url) => (url === SERVER ? server : tables.get(url)) }, observed);
    expect(selfOf(profile, "tax")).toBe(50);
    expect(selfOf(profile, "price")).toBe(100);
    expect(selfOf(profile, "handle")).toBe(5);
    expect(stats.uncertainSamples).toBe(0);
  });
});
