import { isSeismoError } from "@seismo/agent-proto";
import { describe, expect, it } from "vitest";
import { parseDuration } from "../src/query/duration.js";

describe("parseDuration", () => {
  it("reads the usual forms", () => {
    expect(parseDuration("5m")).toBe(300_000);
    expect(parseDuration("1h30m")).toBe(5_400_000);
    expect(parseDuration("250ms")).toBe(250);
    expect(parseDuration("7d")).toBe(604_800_000);
    expect(parseDuration("90")).toBe(90_000);
  });

  it("says what it expected otherwise", () => {
    for (const bad of ["", "5 minutes", "m5", "5x", "-5m"]) {
      let line = "";
      try {
        parseDuration(bad);
      } catch (error) {
        if (isSeismoError(error, "SEISMO_USAGE")) line = error.toLine();
      }
      expect(line).toMatch(/is not a duration\. Use forms like 30s, 5m/);
    }
  });
});
