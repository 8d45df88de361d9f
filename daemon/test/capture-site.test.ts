import { describe, expect, it } from "vitest";
import { siteAtLine, siteOfFunction } from "../src/capture/capture-site.js";

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
});
