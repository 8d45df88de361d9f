import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ErrorCodes } from "../src/index.js";

const docs = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");
/** The codes docs/errors.md has a table row for. */
const documented = [...docs.matchAll(/^\| `(SEISMO_[A-Z_]+)` \|/gm)].map((m) => m[1]);

describe("error codes", () => {
  it("docs/errors.md has one row for every code, and none for a code that does not exist", () => {
    expect([...documented].sort()).toEqual(Object.values(ErrorCodes).sort());
  });

  it("every row says what happened and what to do", () => {
    for (const row of docs.split("\n").filter((line) => line.startsWith("| `SEISMO_"))) {
      const cells = row.split(" | ");
      expect(cells.length, row).toBe(3);
      expect(cells.every((cell) => cell.replace(/[|`]/g, "").trim().length > 10), row).toBe(true);
    }
  });
});
