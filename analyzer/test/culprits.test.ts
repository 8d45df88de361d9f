import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { BurstProfile } from "@seismo/agent-proto";
import { describe, expect, it } from "vitest";
import type { Baseline } from "../src/spike/culprits.js";
import { toChromeCpuProfile } from "../src/spike/cpuprofile-export.js";
import { analyzeSpike, DEFAULT_ANALYSIS_SETTINGS } from "../src/spike/culprits.js";

/**
 * Burst profiles and baselines recorded from test/fixtures/spike-app.cjs under
 * steady HTTP load (`seismo run --window 1s`, Node 20), one per kind of spike,
 * plus a tenfold traffic surge with the usual request mix.
 */
interface Recorded {
  kind: string;
  trigger: string;
  maxStallMs: number;
  burst: BurstProfile;
  baseline: Baseline;
}

function recorded(kind: string): Recorded {
  return JSON.parse(readFileSync(join(import.meta.dirname, "..", "..", "test", "fixtures", "profiles", `spike-${kind}.json`), "utf8")) as Recorded;
}

function analyze(kind: string) {
  const r = recorded(kind);
  return analyzeSpike(r.burst, r.baseline, { loopBlocked: r.trigger === "LOOP_BLOCKED" || r.maxStallMs >= 1_000 });
}

const APP = "/app/test/fixtures/spike-app.cjs";

describe("culprit analysis on recorded spikes", () => {
  it("a catastrophic regular expression: the app function running it, with the regex named on its hot line", () => {
    const analysis = analyze("regex");
    expect(analysis.verdict).toBe("incident");
    const [top] = analysis.culprits;
    expect(top).toMatchObject({ name: "isValidSlug", file: APP, package: null, builtin: false });
    expect(top?.share).toBeGreaterThan(0.8);
    expect(top?.baselineShare).toBeLessThan(0.01);
    expect(top?.appFrame).toMatchObject({ name: "isValidSlug", file: APP });
    expect(top?.note).toMatch(/RegExp#test/);
  });

  it("the same regular expression compiled during the burst (its code a node of its own): still the app function running it", () => {
    const r = recorded("regex");
    const burst = structuredClone(r.burst);
    const slug = burst.frames.findIndex((f) => f.functionName === "isValidSlug");
    const runner = burst.nodes.find((n) => n.frame === slug) as BurstProfile["nodes"][number];
    burst.frames.push({ ...(burst.frames[slug] as BurstProfile["frames"][number]), functionName: "RegExp: ^([a-z0-9]+-?)+$", scriptUrl: "", filePath: "", line: 0, column: 0, scriptId: "0", lineCalls: [] });
    const regexNode = { id: 1_000_000, parentId: runner.id, frame: burst.frames.length - 1, positionTicks: [], synthetic: false, inlinedSamples: 0, uncertainSamples: 0, candidateFrames: [] };
    burst.nodes.push(regexNode);
    burst.samples = burst.samples.map((id) => (id === runner.id ? regexNode.id : id));
    const analysis = analyzeSpike(burst, r.baseline, { loopBlocked: true });
    const [top] = analysis.culprits;
    expect(top).toMatchObject({ name: "isValidSlug", file: APP, builtin: false });
    expect(top?.share).toBeGreaterThan(0.8);
    expect(analysis.culprits.some((c) => c.name.startsWith("RegExp: "))).toBe(false);
  });

  it("traffic arriving, a handler charged for the helpers V8 inlined into it before the burst began: the same work, not an incident", () => {
    // Recorded from test/integration/load.test.ts's arrival scenario in a run that paged it (1 in
    // 9 there): in the burst, `/products` holds 70 % of CPU in its own code, all on its one line;
    // in the three windows after it, 1 % (productPage and its helpers hold the rest).
    const r = recorded("arrival");
    const analysis = analyzeSpike(r.burst, r.baseline, { loopBlocked: false });
    expect(analysis.verdict).toBe("ordinary");
    expect(analysis.culprits).toEqual([]);
    expect(analysis.reason).toMatch(/^Same work as normal, charged differently: \/products took 70\.5 % of CPU in its own code \(1\.0 % normally\), but 79\.5 % with the functions it calls, 80\.9 % normally/);
    // Without the windows' inclusive times it is the false alarm it was.
    const selfOnly = { ...r.baseline, functions: r.baseline.functions.map(({ totalUs: _, ...f }) => f) };
    const paged = analyzeSpike(r.burst, selfOnly, { loopBlocked: false });
    expect(paged.verdict).toBe("incident");
    expect(paged.culprits[0]?.name).toBe("/products");
    // Had it and its callees held 30 % normally, its rise would be new work: named.
    const lighter = {
      ...r.baseline,
      functions: r.baseline.functions.map((f) => (f.name === "/products" ? { ...f, totalUs: 0.3 * r.baseline.cpuUs } : f)),
    };
    expect(analyzeSpike(r.burst, lighter, { loopBlocked: false }).culprits[0]?.name).toBe("/products");
  });

  it("a sidecar attached just before the traffic: the burst charges the handler with its callees, the windows of the same moments do not: the same work", () => {
    // Recorded from test/integration/load.test.ts's early scenario in a run that paged it (2 in 5
    // there): `/products` at 27.8 % of the burst in its own code, all on its one line, productPage
    // with 39 % of it (71 % of the windows after it); the two rolling windows that cover the
    // burst's 1.5 s give `/products` 1.4 %. With 45 % left to its callees, the inclusive rule above
    // does not apply.
    const r = recorded("early") as Recorded & { sameMoments: Baseline };
    const judged = analyzeSpike(r.burst, r.baseline, { loopBlocked: false, sameMoments: r.sameMoments });
    expect(judged.verdict).toBe("ordinary");
    expect(judged.culprits).toEqual([]);
    expect(judged.reason).toMatch(/^Same work as normal, charged differently: the spike's profile gave \/products 27\.8 % of CPU in its own code \(0\.62 % normally\), the rolling windows over the same moments 1\.4 %/);
    expect(judged.reason).toMatch(/Seismo's reading/);
    // Without those windows it is the false alarm it was.
    const paged = analyzeSpike(r.burst, r.baseline, { loopBlocked: false });
    expect(paged.verdict).toBe("incident");
    expect(paged.culprits[0]?.name).toBe("/products");
    // Had the windows seen `/products` take that time too, it would be new work: named.
    const cpuUs = r.sameMoments.cpuUs;
    const seenThere = { ...r.sameMoments, functions: r.sameMoments.functions.map((f) => (f.name === "/products" ? { ...f, selfUs: 0.25 * cpuUs, hotLines: [] } : f)) };
    expect(analyzeSpike(r.burst, r.baseline, { loopBlocked: false, sameMoments: seenThere }).culprits[0]?.name).toBe("/products");
    // And had any function grown in them, the burst's reading stands.
    const grewThere = { ...r.sameMoments, functions: [...r.sameMoments.functions, { name: "hashPassword", scriptUrl: "file:///app/src/auth.js", line: 3, selfUs: 0.3 * cpuUs, hotLines: [] as Array<[number, number]> }] };
    expect(analyzeSpike(r.burst, r.baseline, { loopBlocked: false, sameMoments: grewThere }).verdict).toBe("incident");
    // Too little CPU in them to say anything: the burst stands.
    const thin = { ...r.sameMoments, cpuUs: 200_000 };
    expect(analyzeSpike(r.burst, r.baseline, { loopBlocked: false, sameMoments: thin }).verdict).toBe("incident");
  });

  it("heavy work inside an npm dependency: the culprit is in that package, the app frame is the app's caller", () => {
    const analysis = analyze("bcrypt");
    const [top] = analysis.culprits;
    expect(top).toMatchObject({ package: "bcryptjs", packageVersion: "3.0.3", builtin: false });
    expect(top?.file).toContain("/node_modules/bcryptjs/");
    expect(top?.appFrame).toMatchObject({ name: "hashPassword", file: APP });
    expect(top?.callers.map((c) => c.name)).toContain("hashPassword");
    expect(top?.callers.at(-1)?.name).toBe(top?.name);
  });

  it("a synchronous loop that blocks the event loop: the app function spinning", () => {
    const analysis = analyze("block");
    const [top] = analysis.culprits;
    // spinUntil was inlined into reconcileLedger before the burst profiler existed, so V8 charges the caller (documented).
    expect(["reconcileLedger", "spinUntil"]).toContain(top?.name);
    expect(top?.file).toBe(APP);
    expect(top?.share).toBeGreaterThan(0.8);
  });

  it("JSON of a huge payload: the built-in is named as such, with the app line that calls it", () => {
    const analysis = analyze("json");
    const builtins = analysis.culprits.filter((c) => c.builtin);
    expect(builtins.map((c) => c.name).sort()).toEqual(["JSON.parse", "JSON.stringify"]);
    const [top] = analysis.culprits;
    expect(top?.builtin).toBe(true);
    expect(top).toMatchObject({ file: null, line: null, package: null });
    expect(top?.appFrame?.name).toBe("step");
    expect(top?.appFrame?.file).toBe(APP);
    // The lines of step() that call JSON.parse/JSON.stringify, as the daemon found them when it recorded the burst.
    const step = recorded("json").burst.frames.find((f) => f.functionName === "step");
    const jsonLines = (step?.lineCalls ?? []).filter((c) => c.builtins.some((b) => b.startsWith("JSON."))).map((c) => c.line);
    expect(jsonLines).toHaveLength(2);
    expect(jsonLines).toContain(top?.appFrame?.line);
    expect(builtins.reduce((sum, c) => sum + c.share, 0)).toBeGreaterThan(0.7);
  });

  it("ten times the traffic with the same request mix is not an incident", () => {
    const analysis = analyze("traffic");
    expect(analysis.verdict).toBe("ordinary");
    expect(analysis.culprits).toEqual([]);
    expect(analysis.reason).toMatch(/Same profile shape/);
  });

  it("without a baseline, one dominant function is still named, and the reason says there was no baseline", () => {
    const r = recorded("bcrypt");
    const analysis = analyzeSpike(r.burst, { windows: 0, cpuUs: 0, functions: [] }, { loopBlocked: false });
    expect(analysis.verdict).toBe("incident");
    expect(analysis.reason).toMatch(/No baseline/);
    expect(analysis.culprits[0]?.package).toBe("bcryptjs");
  });

  it("a blocked loop without a baseline lists each function once", () => {
    const r = recorded("json");
    const analysis = analyzeSpike(r.burst, { windows: 0, cpuUs: 0, functions: [] }, { loopBlocked: true }, { ...DEFAULT_ANALYSIS_SETTINGS, dominantShare: 0.99 });
    expect(analysis.verdict).toBe("incident");
    const names = analysis.culprits.map((c) => `${c.name}|${c.appFrame?.line ?? ""}`);
    expect(names.length).toBeGreaterThan(1);
    expect(new Set(names).size).toBe(names.length);
  });

  it("shares are of CPU time (0..1), and the top stacks end in the culprit", () => {
    for (const kind of ["regex", "bcrypt", "block", "json", "traffic"]) {
      const analysis = analyze(kind);
      for (const c of analysis.culprits) {
        expect(c.share).toBeGreaterThanOrEqual(0);
        expect(c.share).toBeLessThanOrEqual(1);
        expect(c.baselineShare).toBeGreaterThanOrEqual(0);
        expect(c.baselineShare).toBeLessThanOrEqual(1);
      }
      expect(analysis.topStacks.reduce((s, t) => s + t.share, 0)).toBeLessThanOrEqual(1.000001);
    }
    expect(analyze("bcrypt").topStacks[0]?.frames.at(-1)?.package).toBe("bcryptjs");
  });

  it("exports the burst as a .cpuprofile whose nodes, samples and timeline are V8's own", () => {
    const { burst } = recorded("bcrypt");
    const exported = toChromeCpuProfile(burst);
    expect(exported.samples).toEqual(burst.samples);
    expect(exported.nodes).toHaveLength(burst.nodes.length);
    const ids = new Set(exported.nodes.map((n) => n.id));
    for (const node of exported.nodes) for (const child of node.children) expect(ids.has(child)).toBe(true);
    expect(exported.nodes.reduce((sum, n) => sum + n.hitCount, 0)).toBe(burst.samples.length);
    expect(exported.nodes.find((n) => n.callFrame.functionName === "_encipher")?.callFrame.url).toContain("bcryptjs");
  });
});

describe("time the daemon could not split from inlined code", () => {
  it("is said to be uncertain in the culprit's note, with the candidates, not presented as the function's own", () => {
    const r = recorded("block");
    const burst = structuredClone(r.burst);
    const before = analyzeSpike(burst, r.baseline, { loopBlocked: true }).culprits[0];
    const frameIndex = burst.frames.findIndex((f) => f.functionName === before?.name && f.filePath === before?.file);
    const candidate = burst.frames.findIndex((f) => f.functionName === "reconcileLedger");
    // Mark every node of the culprit as the daemon does when its lines fit an inlined callee too.
    for (const node of burst.nodes) {
      if (node.frame !== frameIndex) continue;
      node.uncertainSamples = burst.samples.filter((id) => id === node.id).length;
      node.candidateFrames = [candidate];
    }
    const [top] = analyzeSpike(burst, r.baseline, { loopBlocked: true }).culprits;
    expect(top?.name).toBe(before?.name);
    expect(top?.note).toMatch(/^Uncertain: 100 % of this time may be inlined code of reconcileLedger \(.*spike-app\.cjs:\d+\)/);
  });
});
