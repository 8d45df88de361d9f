import { describe, expect, it } from "vitest";
import { builtinCallsOnLine } from "../src/spike/builtin-calls.js";

describe("built-in calls on a source line", () => {
  it.each([
    ["    const text = JSON.stringify(hugePayload);", ["JSON.stringify"]],
    ["  return JSON.parse(JSON.stringify(value));", ["JSON.parse", "JSON.stringify"]],
    ["  const copy = structuredClone(state);", ["structuredClone"]],
    ["  const gz = zlib.gzipSync(buffer);", ["zlib.gzipSync"]],
    ["  const key = crypto.pbkdf2Sync(pw, salt, 1e6, 64, 'sha512');", ["crypto.pbkdf2Sync"]],
    ["  return /^([a-z0-9]+-?)+$/.test(text);", ["RegExp#test"]],
    ["  const parts = line.split(/,\\s*/);", ["RegExp#split"]],
    ["  if (s.replace(/a+/g, '') === '') return;", ["RegExp#replace"]],
    ["  const re = new RegExp(pattern, 'i');", ["RegExp#exec"]],
  ])("%s", (line, expected) => {
    expect(builtinCallsOnLine(line)).toEqual(expected);
  });

  it.each([
    ["  const ratio = total / count / 2;"],
    ["  // JSON parse happens elsewhere"],
    ["  return a.split(',');"],
    ["  const url = 'http://x/y'.replace('x', host);"],
  ])("finds nothing in %s", (line) => {
    expect(builtinCallsOnLine(line)).toEqual([]);
  });
});
