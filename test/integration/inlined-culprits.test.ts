import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Proc } from "./harness.js";
import { cleanup, FIXTURES, seismo, seismoRun, sleep, startFixture, startLoad, tempDir } from "./harness.js";
import { inlinedByV8 } from "./profile-shares.js";

afterAll(cleanup);

const APP = join(FIXTURES, "import-app.cjs");

interface IncidentJson {
  id: string;
  kind: string;
  deployment: string;
  summary: string;
  startedAt: string;
  culprits: Array<{ name: string; file: string | null; line: number | null; share: number; appFrame: { name: string; file: string } | null }>;
}

async function incidents(db: string, kind: string): Promise<IncidentJson[]> {
  const listed = await seismoRun(["incidents", "--db", db, "--since", "1h", "--kind", kind, "--json"]);
  expect(listed.code, listed.stderr).toBe(0);
  return JSON.parse(listed.stdout) as IncidentJson[];
}

/**
 * A fixture under steady load with a sensor attached (1 s windows), eight seconds of normal
 * windows for the baseline, then the spike it is asked for: the handles, and the spike's onset.
 */
async function spikeUnderSensor(fixture: string, spikeUrl: (app: Proc & { port: number }) => string, nodeArgs: string[] = [], perSecond = 60) {
  const db = join(tempDir(), "spike.db");
  const app = await startFixture(fixture, { nodeArgs });
  const load = startLoad(app.port, perSecond, "/");
  const sensor = seismo(["attach", String(app.pid), "--db", db, "--window", "1s", "--burst-duration", "1500ms"]);
  try {
    await sensor.waitFor(/attached to pid/, 15_000);
    await sleep(8_000);
    const answer = await fetch(spikeUrl(app), { method: "POST" });
    expect(answer.status).toBe(200);
    const onsetMs = Number((await app.waitFor(/spike (\d+)/))[1]);
    return { db, app, load, sensor, onsetMs };
  } catch (error) {
    await load.stop();
    throw error;
  }
}

/** One run of the fingerprint spike, its assertions made; says whether V8 was seen to inline fingerprint. */
async function spikeInFingerprint(): Promise<string> {
  // TurboFan inlines fingerprint into the handler during the normal windows, and the spike runs
  // in that same optimized code: the admin port is apart (see the fixture), and at 200 requests a
  // second the normal windows hold enough samples to learn fingerprint's small normal share.
  const adminUrl = (app: Proc): string => `http://127.0.0.1:${app.stdout().match(/admin (\d+)/)?.[1] ?? ""}/spike?ms=4000`;
  const { db, app, load, sensor, onsetMs } = await spikeUnderSensor("import-app.cjs", adminUrl, ["--trace-turbo-inlining"], 200);
  try {
    // The embedded analyzer opens the incident and arms a capture of the culprit's app frame.
    const armed = await sensor.waitFor(/capture \S+ armed at (\S+):(\d+) \((\w+)\)/, 25_000).catch(() => undefined);
    const [spike] = (await incidents(db, "cpu_spike")).filter((i) => Date.parse(i.startedAt) >= onsetMs - 1_000);
    if (!armed && !spike) return "no incident";
    expect(spike, sensor.stdout() + sensor.stderr()).toBeDefined();
    expect(armed, sensor.stdout() + sensor.stderr()).toBeDefined();
    const [top] = spike?.culprits ?? [];
    // V8 charged the spike to the anonymous handler; the incident names the helper.
    expect(top).toMatchObject({ name: "fingerprint", file: APP, line: 17 });
    expect(spike?.summary).toMatch(/`fingerprint`/);
    expect(armed?.[1]).toBe(APP);
    expect(armed?.[3]).toBe("fingerprint");
  } finally {
    await load.stop();
  }
  // The hard case happened: V8 inlined fingerprint into the handler. (Read once the app has exited:
  // V8 writes its trace through a C buffer that a piped stdout flushes only then, and it does not
  // always reach the test. V8's own profile proves it too: fingerprint's samples came on the
  // handler's node, at its lines.)
  app.child.kill("SIGTERM");
  await app.exited;
  const listed = await seismoRun(["top", "--db", db, "--since", "10m", "--json"]);
  const charged = (JSON.parse(listed.stdout) as Array<{ name: string; inlinedShare: number }>).find((row) => row.name === "fingerprint")?.inlinedShare ?? 0;
  const traced = inlinedByV8(app.stdout()).has("fingerprint");
  const onHandler = `${Math.round(charged * 100)} % of its samples on the handler`;
  return traced || charged > 0.5 ? `inlined (${onHandler}${traced ? ", traced" : ""})` : `not inlined (${onHandler})`;
}

describe("the culprit is a helper V8 inlined into its caller", () => {
  it("a CPU spike inside it: the incident names the helper, and the capture is armed on it", { timeout: 150_000 }, async () => {
    // Whether TurboFan inlines fingerprint depends on what it met first (after the recompile on
    // attach it sometimes optimizes fingerprint on its own first): a run where it did not proves
    // nothing about de-inlining, so up to three are tried, each checked in full.
    const runs: string[] = [];
    while (runs.length < 3 && !runs.at(-1)?.startsWith("inlined")) runs.push(await spikeInFingerprint());
    console.log(`fingerprint spike runs: ${runs.join("; ")}`);
    expect(runs.at(-1), `V8 inlined fingerprint and the incident named it, in one of three runs: ${runs.join("; ")}`).toMatch(/^inlined/);
  });

  it("a CPU spike in an anonymous request handler itself: named by where it sits, captured by its location", { timeout: 150_000 }, async () => {
    // Once in about eight runs TurboFan inlined the handler into Node's own EventEmitter#emit,
    // whose source (a node: built-in) the daemon cannot read: the spike's burst profile then
    // charges the handler to `emit` (see the README's limitations). Such a run is retried.
    const runs: string[] = [];
    while (runs.length < 3 && runs.at(-1) !== "named") runs.push(await spikeInHandler());
    expect(runs.at(-1), `the incident named the handler in one of three runs: ${runs.join("; ")}`).toBe("named");
  });
});

/** One run of the handler spike, its assertions made; "named", or what the incident named instead when it is Node's own code. */
async function spikeInHandler(): Promise<string> {
  const HANDLER_APP = join(FIXTURES, "handler-app.cjs");
  const handler = "(anonymous) http.createServer(…)";
  const { db, load, sensor, onsetMs } = await spikeUnderSensor("handler-app.cjs", (app) => `http://127.0.0.1:${app.port}/admin/spike?ms=4000`);
  try {
    const opened = await sensor.waitFor(/incident (spk-[0-9a-f]{10}): CPU spike .*?: `([^`]+)` \((\S+?)\)/, 30_000);
    if (opened[3]?.startsWith("node:")) return `${opened[2] ?? ""} (${opened[3]})`;
    // V8 gives the handler no name; the capture is armed on it by the line it is declared on,
    // at its first statement (not the line that registers it, which ran once at startup).
    const armed = await sensor.waitFor(/capture \S+ armed at (\S+):(\d+) \((.+?)\) for/, 30_000);
    expect(armed.slice(1, 4)).toEqual([HANDLER_APP, "11", handler]);
    await sensor.waitFor(/capture \S+ disarmed: 5 of its 5 hit\(s\) captured/, 30_000);
    const [spike] = (await incidents(db, "cpu_spike")).filter((i) => Date.parse(i.startedAt) >= onsetMs - 1_000);
    expect(spike, sensor.stdout() + sensor.stderr()).toBeDefined();
    expect(spike?.culprits[0]).toMatchObject({ name: handler, file: HANDLER_APP, line: 10 });
    expect(spike?.summary).toContain(`\`${handler}\` (fixtures/handler-app.cjs:10)`);
    const captured = await seismoRun(["snapshots", "--incident", spike?.id ?? "", "--db", db, "--json"]);
    expect(captured.code, captured.stderr).toBe(0);
    const snapshots = JSON.parse(captured.stdout) as Array<{ functionName: string; line: number; locals: Array<{ name: string }> }>;
    expect(snapshots.length).toBeGreaterThanOrEqual(1);
    expect(snapshots[0]).toMatchObject({ functionName: handler, line: 11 });
    expect(snapshots[0]?.locals.map((l) => l.name)).toEqual(expect.arrayContaining(["req", "res"]));
    // `top` names it the same way.
    const top = await seismoRun(["top", "--db", db, "--since", "10m", "--json"]);
    expect((JSON.parse(top.stdout) as Array<{ name: string; file: string; line: number }>).find((row) => row.file === HANDLER_APP && row.line === 10)?.name).toBe(handler);
    return "named";
  } finally {
    await load.stop();
  }
}

describe("a deployment that made a helper V8 inlines 50 % slower", () => {
  const CATALOG = join(FIXTURES, "catalog-app.cjs");

  /** A deployment of the catalog service under `seismo run` (1 s windows, 2 ms sampling), its embedded analyzer writing `db`. */
  async function deployCatalog(db: string, label: string, slowdown: number) {
    const run = seismo(
      ["run", "--db", db, "--window", "1s", "--interval", "2", "--no-spikes", "--deployment", label, "--", process.execPath, "--trace-turbo-inlining", CATALOG],
      { HELPER_SLOWDOWN: String(slowdown), NODE_OPTIONS: "" },
    );
    const port = Number((await run.waitFor(/listening (\d+)/, 20_000))[1]);
    await run.waitFor(/attached to pid/, 20_000);
    return { ...run, port, load: startLoad(port, 150, "/") };
  }
  async function stop(run: Awaited<ReturnType<typeof deployCatalog>>): Promise<void> {
    await run.load.stop();
    run.child.kill("SIGTERM");
    expect((await run.exited).code).toBe(0);
  }
  const checks = (run: { stdout(): string; stderr(): string }): string =>
    `${run.stdout()}${run.stderr()}`.split("\n").filter((line) => /regression check of/.test(line)).join("\n");

  it("the regression watch names the helper, not the handler V8 charged it to, and captures its values", { timeout: 200_000 }, async () => {
    const db = join(tempDir(), "catalog.db");
    const v1 = await deployCatalog(db, "v1", 1);
    await sleep(40_000);
    await stop(v1);
    // v2: stockOf follows 1.5 times as many links, nothing else changed. (At 1.3 it read +22 to
    // +35 % in 7 runs and was named in 5: with one process a side, the same helper moves ±8 % between
    // processes, and the interval corrected for the 9 functions compared held no change at +22 to +26 %.
    // This test is about which function is named, not about the watch's power at its margin.)
    const v2 = await deployCatalog(db, "v2", 1.5);
    try {
      // Checks come at 12, 30 and 60 windows.
      await v2.waitFor(/incident reg-[0-9a-f]{10}: Regression in/, 90_000);
      await v2.waitFor(/capture \S+ disarmed: 5 of its 5 hit\(s\) captured/, 15_000);
    } catch (error) {
      const diff = await seismoRun(["diff", "--from", "v1", "--to", "v2", "--all", "--db", db]);
      throw new Error(`${(error as Error).message}\nseismo diff v1 v2:\n${diff.stdout}${diff.stderr}\n${checks(v2)}`);
    } finally {
      await stop(v2);
    }
    console.log(checks(v2));

    // The hard case happened in both processes: V8 inlined stockOf into the handler (its trace,
    // flushed at the graceful exit), and charged its time there (what Seismo moved back).
    const top = await seismoRun(["top", "--db", db, "--since", "1h", "--limit", "60", "--json"]);
    const stockRow = (JSON.parse(top.stdout) as Array<{ name: string; line: number; inlinedShare: number }>).find((row) => row.name === "stockOf");
    expect(stockRow?.line).toBe(41);
    for (const run of [v1, v2]) expect(inlinedByV8(run.stdout()).has("stockOf") || (stockRow?.inlinedShare ?? 0) > 0.9, run.stdout().slice(-2_000)).toBe(true);
    expect(stockRow?.inlinedShare).toBeGreaterThan(0.9);

    const listed = await seismoRun(["incidents", "--db", db, "--since", "1h", "--kind", "regression", "--json"]);
    expect(listed.code, listed.stderr).toBe(0);
    const regressions = JSON.parse(listed.stdout) as Array<{ id: string; summary: string; culprits: Array<{ name: string; file: string; line: number; note: string; change: { ratio: number; ciLow: number } }> }>;
    expect(regressions).toHaveLength(1);
    const [regression] = regressions as [(typeof regressions)[number]];
    expect(regression.culprits.map((c) => [c.name, c.file, c.line])).toEqual([["stockOf", CATALOG, 41]]);
    const [culprit] = regression.culprits;
    console.log(`stockOf estimated ${JSON.stringify(culprit?.change)} (1.5 times the links)`);
    expect(culprit?.change.ciLow).toBeGreaterThan(1);
    expect(culprit?.change.ratio).toBeGreaterThanOrEqual(1.25);
    expect(culprit?.change.ratio).toBeLessThan(1.9);
    // Told apart from what V8 gave: the time is Seismo's inference from stockOf's lines.
    expect(culprit?.note).toMatch(/V8 inlined it: \d+ % of its time was charged to its caller and moved back by Seismo/);
    expect(regression.summary).toMatch(/`stockOf` \(fixtures\/catalog-app\.cjs\) \+\d+ %/);

    // The capture was armed on stockOf (a breakpoint in inlined code: V8 deoptimizes what inlined it),
    // and its stack shows the anonymous handler that called it.
    const captured = await seismoRun(["snapshots", "--incident", regression.id, "--db", db, "--json"]);
    expect(captured.code, captured.stderr).toBe(0);
    const snapshots = JSON.parse(captured.stdout) as Array<{ functionName: string; stack: string[]; locals: Array<{ name: string; type: string }> }>;
    expect(snapshots.length).toBeGreaterThanOrEqual(1);
    expect(snapshots[0]).toMatchObject({ functionName: "stockOf" });
    expect(snapshots[0]?.locals.find((l) => l.name === "item")?.type).toBe("Object");
    expect(snapshots[0]?.stack[1]).toMatch(/<anonymous> \(.*catalog-app\.cjs:\d+:\d+\)$/);
  });
});
