import { describe, expect, it } from "vitest";
import { siteAtLine, siteOfFunction, siteOfNamedFunction } from "../src/capture/capture-site.js";

const source = `"use strict";
const TAX_RATE = 0.2;
let requests = 0;
const unused = 1;
function priceOrder(order, { currency = "EUR", ...options }, ...rest) {
  requests++;
  const lines = order.items.length;
  let total = 0;
  for (const item of order.items) {
    const net = item.price * item.qty;
    total += net;
  }
  try {
    if (total > 1000) throw new Error("too much");
  } catch (problem) {
    total = -1;
  }
  return { total: total * (1 + TAX_RATE), lines, currency };
}
const handler = async (req) => {
  const body = await req.json();
  return priceOrder(body, {});
};
class Cart {
  add(item) {
    this.items.push(item);
  }
}
module.exports = { priceOrder, handler, Cart };
`;

describe("capture site", () => {
  it("finds a function's first statement and the names visible there: parameters, locals, closure values", () => {
    const site = siteOfFunction(source, "priceOrder");
    expect(site).toMatchObject({ line: 6, column: 2, functionName: "priceOrder" });
    expect(site?.names).toEqual(["order", "currency", "options", "rest", "lines", "total", "TAX_RATE", "requests"]);
  });

  it("at a line inside a block, adds that block's declarations and the catch parameter", () => {
    expect(siteAtLine(source, 11)?.names).toEqual(expect.arrayContaining(["item", "net", "total", "order"]));
    expect(siteAtLine(source, 11)?.names).not.toContain("problem");
    expect(siteAtLine(source, 16)?.names).toEqual(expect.arrayContaining(["problem", "total"]));
    expect(siteAtLine(source, 16)?.names).not.toContain("net");
  });

  it("names arrow functions by their variable and methods by their key; parses ES modules too", () => {
    expect(siteOfFunction(source, "handler")).toMatchObject({ line: 21, functionName: "handler", names: ["req", "body", "priceOrder"] });
    expect(siteOfFunction(source, "add")).toMatchObject({ line: 26, names: ["item"] });
    const esm = `import { x } from "./x.js";\nexport function f(a) {\n  return a + x;\n}\n`;
    expect(siteOfFunction(esm, "f")).toMatchObject({ line: 3, names: ["a", "x"] });
    expect(siteOfFunction(source, "missing")).toBeUndefined();
    expect(siteAtLine("this is not javascript (", 1)).toBeUndefined();
  });

  it("finds a function as `seismo top` names it: V8's names, and anonymous functions by where they sit and their line", () => {
    const routes = [
      "exports.listOrders = function (req) {", // 1
      "  return req.query;", // 2
      "};", // 3
      "router.get('/reports', (req, res) => {", // 4
      "  const report = build(req);", // 5
      "  res.json(report);", // 6
      "});", // 7
      "router.post('/reports', (req, res) => {", // 8
      "  res.end();", // 9
      "});", // 10
      "items.map((a) => a);", // 11
      "items.map((b) => b);", // 12
    ].join("\n");
    expect(siteOfNamedFunction(routes, "exports.listOrders")).toMatchObject({ line: 2, functionName: "exports.listOrders" });
    // The handler's first statement, not the line that registers it (which runs once).
    expect(siteOfNamedFunction(routes, "(anonymous) router.get('/reports', …)")).toMatchObject({ line: 5, column: 2, names: expect.arrayContaining(["req", "res", "report"]) });
    expect(siteOfNamedFunction(routes, "(anonymous) router.post('/reports', …)", 8)).toMatchObject({ line: 9 });
    // Two callbacks share a name: the line tells them apart, and without it none is guessed.
    expect(siteOfNamedFunction(routes, "(anonymous) items.map(…)", 12)?.names).toEqual(["b"]);
    expect(siteOfNamedFunction(routes, "(anonymous) items.map(…)")).toBeUndefined();
    expect(siteOfNamedFunction(routes, "(anonymous) router.get('/gone', …)")).toBeUndefined();
    // Named by its variable (`const handler = async (req) => …`), as before.
    expect(siteOfNamedFunction(source, "handler")).toMatchObject({ line: 21, functionName: "handler" });
  });
});
