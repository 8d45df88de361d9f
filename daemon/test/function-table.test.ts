import { describe, expect, it } from "vitest";
import { AMBIGUOUS, buildFunctionTable, TOP_LEVEL } from "../src/attribution/function-table.js";

const SOURCE = [
  "const http = require('node:http');", // 1
  "function checksum(text) {", // 2
  "  let h = 7;", // 3
  "  for (let i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) | 0;", // 4
  "  return h;", // 5
  "}", // 6
  "const double = (x) => x * 2, half = (x) => x / 2;", // 7
  "exports.handler = function (req) {", // 8
  "  return checksum(req.url) + double(1);", // 9
  "};", // 10
  "class Cart { total(items) { return items.reduce((s, i) => {", // 11
  "    return s + i;", // 12
  "  }, 0); } }", // 13
  "function Foo() {} Foo.prototype.bar = async x => x;", // 14
].join("\n");

describe("function table", () => {
  const table = buildFunctionTable(SOURCE);
  if (!table) throw new Error("the source did not parse");
  const byName = (name: string) => table.functions.find((fn) => fn.name === name);

  it("names functions as V8 does, and places them where V8's call frames do (the parameter list)", () => {
    expect(table.functions.map((fn) => fn.name)).toEqual(["checksum", "double", "half", "exports.handler", "total", "", "Foo", "Foo.bar"]);
    // V8: checksum at 2:17 ("(" of the parameters, 0-based), the arrow at its "(", `x => x` at its parameter.
    expect(byName("checksum")).toMatchObject({ line: 1, column: 17, startLine: 2, endLine: 6 });
    expect(byName("double")).toMatchObject({ line: 6, column: 15 });
    expect(byName("exports.handler")).toMatchObject({ line: 7, column: 27, startLine: 8, endLine: 10 });
    expect(byName("Foo.bar")).toMatchObject({ line: 13, column: SOURCE.split("\n")[13]?.indexOf("x =>") });
    expect(table.functionAt(1, 17)?.name).toBe("checksum");
    expect(table.functionAt(1, 16)).toBeUndefined();
  });

  it("owns each line by the innermost function, and says when a line cannot tell", () => {
    expect(table.ownerOfLine(4)).toBe(byName("checksum")?.index);
    expect(table.ownerOfLine(1)).toBe(TOP_LEVEL);
    expect(table.ownerOfLine(7)).toBe(AMBIGUOUS); // two arrows side by side
    expect(table.deepestOnLine(7).map((i) => table.functions[i]?.name)).toEqual(["double", "half"]);
    expect(table.ownerOfLine(12)).toBe(table.functions.findIndex((fn) => fn.name === "" && fn.startLine === 11));
    expect(table.sharedLine(11)).toBe(true); // the callback starts on a line of `total`
    expect(table.sharedLine(12)).toBe(false);
    expect(table.ownerOfLine(99)).toBe(TOP_LEVEL);
  });

  it("records the names each function calls, not those of its nested functions", () => {
    expect([...(byName("exports.handler")?.calls ?? [])].sort()).toEqual(["checksum", "double"]);
    expect([...(byName("total")?.calls ?? [])]).toEqual(["reduce"]);
    expect(table.named("checksum")).toHaveLength(1);
    const callback = table.ownerOfLine(12);
    expect(table.within(callback, byName("total")?.index ?? -9)).toBe(true);
    expect(table.within(byName("total")?.index ?? -9, callback)).toBe(false);
  });

  it("reads ES modules, and gives no table for what is not JavaScript", () => {
    expect(buildFunctionTable("export function f() { return await1(); }\nexport default () => 1;")?.functions).toHaveLength(2);
    expect(buildFunctionTable("this is { not javascript")).toBeUndefined();
  });

  it("says where an anonymous function sits: the call it is passed to, with the literal that call starts with", () => {
    const routes = [
      "const router = express.Router();",
      "router.get('/reports/:id', auth, async (req, res) => {",
      "  res.json(await report(req.params.id));",
      "});",
      "app.route(`/cart`).post(function (req, res) { res.end(); });",
      "items.map((item) => item.price);",
      "emitter.on('data', (chunk) => chunk);",
      "new Promise((resolve) => setTimeout(resolve, 1));",
      "export default async (event) => event;",
      "(function () {})();",
      "const named = () => 1;",
    ].join("\n");
    const contexts = buildFunctionTable(routes)?.functions.map((fn) => [fn.name, fn.context]);
    expect(contexts).toEqual([
      ["", "router.get('/reports/:id', …)"],
      ["", "app.route('/cart').post(…)"],
      ["", "items.map(…)"],
      ["", "emitter.on('data', …)"],
      ["", "new Promise(…)"],
      ["", "export default"],
      ["", ""],
      ["named", ""],
    ]);
  });
});
