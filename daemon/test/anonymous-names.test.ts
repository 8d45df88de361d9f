import { describe, expect, it } from "vitest";
import { nameAnonymousFunctions } from "../src/attribution/anonymous-names.js";
import { buildFunctionTable } from "../src/attribution/function-table.js";
import type { CallFrame, CpuProfile } from "../src/sampler/cpu-profile.js";

const ROUTES = "file:///app/routes.js";
const source = ["router.get('/reports', (req, res) => {", "  res.json(build(req));", "});", "const build = (req) => req.items.map((u) => u);"].join("\n");
const table = buildFunctionTable(source);

const frame = (functionName: string, lineNumber: number, columnNumber: number): CallFrame => ({ functionName, url: ROUTES, scriptId: "3", lineNumber, columnNumber });

describe("anonymous functions", () => {
  it("are named by where they sit, in nodes and in the candidates of uncertain time; named and top-level frames are left alone", () => {
    const handler = frame("", 0, 23);
    const callback = frame("", 3, source.split("\n")[3]?.indexOf("(u)") ?? -1);
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: { functionName: "(root)", url: "", scriptId: "0", lineNumber: -1, columnNumber: -1 }, children: [2] },
        { id: 2, callFrame: frame("", 0, 0), children: [3] }, // the module's top level
        { id: 3, callFrame: handler, children: [4, 5], attribution: { synthetic: false, inlinedSamples: 0, uncertainSamples: 4, candidates: [callback] } },
        { id: 4, callFrame: frame("build", 3, 14), children: [] },
        { id: 5, callFrame: callback, children: [] },
      ],
      startTime: 0,
      endTime: 1,
      samples: [],
      timeDeltas: [],
    };
    const named = nameAnonymousFunctions(profile, (url) => (url === ROUTES ? table : undefined));
    expect(named.nodes.map((n) => n.callFrame.functionName)).toEqual(["(root)", "", "(anonymous) router.get('/reports', …)", "build", "(anonymous) req.items.map(…)"]);
    expect(named.nodes[2]?.attribution?.candidates.map((c) => c.functionName)).toEqual([named.nodes[4]?.callFrame.functionName]);
    // Without the script's source nothing changes.
    expect(nameAnonymousFunctions(profile, () => undefined)).toBe(profile);
  });
});
