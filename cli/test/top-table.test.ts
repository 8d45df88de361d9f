import type { TopResult } from "@seismo/analyzer";
import { describe, expect, it } from "vitest";
import { attributionNotes, renderTopTable, summarizeTop } from "../src/render/top-table.js";

type TopFunction = TopResult["functions"][number];

/** One row of `top` as the analyzer gives it; each test names only what it is about. */
function topFunction(row: Pick<TopFunction, "name" | "file" | "line" | "selfMs" | "totalMs" | "samples" | "totalSamples"> & Partial<TopFunction>): TopFunction {
  return {
    column: 1,
    package: null,
    packageVersion: null,
    scriptUrl: `file://${row.file}`,
    service: "shop",
    selfShare: row.selfMs / 1_000,
    totalShare: row.totalMs / 1_000,
    hotLines: [],
    inlinedShare: 0,
    uncertainShare: 0,
    inlineCandidates: [],
    generatedFile: null,
    generatedLine: null,
    calledBy: null,
    ...row,
  };
}

const hotFunction = topFunction({ name: "hotFunction", file: "/app/src/server.js", line: 11, selfMs: 750, totalMs: 800, samples: 75, totalSamples: 80 });
const encipher = topFunction({
  name: "_encipher",
  file: "/app/node_modules/bcryptjs/umd/index.js",
  line: 796,
  package: "bcryptjs",
  packageVersion: "3.0.3",
  selfMs: 250,
  totalMs: 250,
  samples: 25,
  totalSamples: 25,
});

const result: TopResult = { sinceMs: 0, windows: 2, cpuMs: 1_000, functions: [hotFunction, encipher] };

describe("renderTopTable", () => {
  it("lines up shares, names, locations relative to the app, and package@version", () => {
    const lines = renderTopTable(result, { cwd: "/app" });
    expect(lines[0]).toMatch(/^SELF%\s+TOTAL%\s+SELF\s+FUNCTION\s+LOCATION\s+PACKAGE$/);
    expect(lines[1]).toMatch(/^75\.0%\s+80\.0%\s+750ms\s+hotFunction\s+src\/server\.js:11$/);
    expect(lines[2]).toMatch(/25\.0%.*_encipher\s+bcryptjs\/umd\/index\.js:796\s+bcryptjs@3\.0\.3$/);
  });

  it("never exceeds the terminal width (a redraw must not wrap)", () => {
    for (const line of renderTopTable(result, { width: 40 })) expect(line.length).toBeLessThanOrEqual(40);
  });

  it("summarizes in one line", () => {
    expect(summarizeTop(result, "/app")).toBe("hotFunction (src/server.js:11) 75.0% · _encipher (bcryptjs/umd/index.js:796) 25.0%");
    expect(summarizeTop({ ...result, functions: [] })).toBe("no CPU samples yet");
  });
});

describe("inferred attribution is marked, never shown as V8's", () => {
  const marked: TopResult = {
    ...result,
    functions: [
      { ...hotFunction, name: "checksum", inlinedShare: 0.97 },
      {
        ...encipher,
        name: "handle",
        file: "/app/src/server.js",
        line: 30,
        package: null,
        uncertainShare: 0.4,
        inlineCandidates: ["tax (src/server.js:2)", "price (src/pricing.js:3)"],
      },
    ],
  };

  it("marks moved time with * and uncertain time with ?, and says what both mean", () => {
    const lines = renderTopTable(marked, { cwd: "/app" });
    expect(lines[1]).toMatch(/checksum \*\s+src\/server\.js:11/);
    expect(lines[2]).toMatch(/handle \?\s+src\/server\.js:30/);
    const notes = attributionNotes(marked, "/app");
    expect(notes[0]).toMatch(/^\* inlined: V8 charged this time to the function it was inlined into/);
    expect(notes[1]).toBe("? handle (src/server.js:30): 40.0% of its self time may be inlined code of tax (src/server.js:2) or price (src/pricing.js:3); its lines cannot tell");
  });

  it("shows a native function with the JavaScript that called it", () => {
    const natives: TopResult = { ...result, functions: [{ ...hotFunction, name: "stat", file: "", line: 0, scriptUrl: "", calledBy: "send (send/index.js:560)" }] };
    expect(renderTopTable(natives)[1]).toMatch(/stat\s+← send \(send\/index\.js:560\)/);
    expect(summarizeTop(natives)).toBe("stat ← send (send/index.js:560) 75.0%");
  });

  it("adds no notes when nothing is marked", () => {
    expect(attributionNotes(result)).toEqual([]);
  });
});
