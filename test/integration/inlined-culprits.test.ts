import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { Proc } from "./harness.js";
import { cleanup, FIXTURES, seismo, seismoRun, sleep, startFixture, startLoad, tempDir } from "./harness.js";
import { inlinedByV8 } from "./profile-shares.js";

/** Every `seismo run` started: stopped with SIGTERM at the end, so that it stops its app too. */
const runs: Proc[] = [];
afterAll(async () => {
  await Promise.all(
    runs.map(async (run) => {
      run.child.kill("SIGTERM");
      await Promise.race([run.exited, sleep(5_000)]);
    }),
  );
  await cleanup();
});

const APP = join(FIXTURES, "inline-app.cjs");

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

describe("the culprit is a helper V8 inlined into its caller", () => {
  it("a CPU spike inside it: the incident names the helper, and the capture is armed on it", { timeout: 90_000 }, async () => {
    const db = join(tempDir(), "spike.db");
    const app = await startFixture("inline-app.cjs", { nodeArgs: ["--trace-turbo-inlining"] });
    const load = startLoad(app.port, 60, "/");
    const sensor = seismo(["attach", String(app.pid), "--db", db, "--window", "1s", "--burst-duration", "1500ms"]);
    try {
      await sensor.waitFor(/attached to pid/, 15_000);
      // Normal windows for the baseline; TurboFan inlines checksum into the handler meanwhile.
      await sleep(8_000);
      expect(inlinedByV8(app.stdout()).has("checksum"), "V8 inlined checksum before the spike").toBe(true);
      const answer = await fetch(`http://127.0.0.1:${app.port}/admin/spike?ms=4000`, { method: "POST" });
      expect(answer.status).toBe(200);
      const onsetMs = Number((await app.waitFor(/spike (\d+)/))[1]);
      // The embedded analyzer opens the incident and arms a capture of the culprit's app frame.
      const armed = await sensor.waitFor(/capture \S+ armed at (\S+):(\d+) \((\w+)\)/, 30_000);
      const [spike] = (await incidents(db, "cpu_spike")).filter((i) => Date.parse(i.startedAt) >= onsetMs - 1_000);
      expect(spike, sensor.stdout() + sensor.stderr()).toBeDefined();
      const [top] = spike?.culprits ?? [];
      // V8 charged the spike to the anonymous handler; the incident names the helper.
      expect(top).toMatchObject({ name: "checksum", file: APP, line: 17 });
      expect(spike?.summary).toMatch(/`checksum`/);
      expect(armed[1]).toBe(APP);
      expect(armed[3]).toBe("checksum");
    } finally {
      await load.stop();
    }
  });

  it("a deployment makes it 30 % slower: the regression names the helper, not its caller", { timeout: 300_000 }, async () => {
    const db = join(tempDir(), "deploys.db");
    const app = join(FIXTURES, "inline-deploy-app.cjs");
    const deploy = async (label: string, slowFactor: string): Promise<Proc & { port: number }> => {
      const run = seismo(
        ["run", "--db", db, "--window", "1s", "--interval", "2", "--no-spikes", "--deployment", label, "--", process.execPath, "--trace-turbo-inlining", app],
        { SLOW_FACTOR: slowFactor, NODE_OPTIONS: "" },
      );
      runs.push(run);
      const port = Number((await run.waitFor(/listening (\d+)/, 20_000))[1]);
      await run.waitFor(/attached to pid/, 20_000);
      return { ...run, port };
    };
    const v1 = await deploy("v1", "1");
    const loadV1 = startLoad(v1.port, 50, "/");
    await sleep(40_000);
    await loadV1.stop();
    v1.child.kill("SIGTERM");
    await v1.exited;
    // v2: renderInvoice does 30 % more work; nothing else changed.
    const v2 = await deploy("v2", "1.3");
    const loadV2 = startLoad(v2.port, 50, "/");
    try {
      await v2.waitFor(/incident reg-[0-9a-f]{10}: Regression in/, 200_000);
    } catch {
      // Not the waiter's message: it holds the target's whole inlining trace.
      const diff = await seismoRun(["diff", "--from", "v1", "--to", "v2", "--all", "--db", db]);
      const checks = `${v2.stdout()}${v2.stderr()}`.split("\n").filter((line) => /regression check of/.test(line));
      throw new Error(`no regression incident for v2\n${checks.join("\n")}\nseismo diff v1 v2:\n${diff.stdout}${diff.stderr}`);
    } finally {
      await loadV2.stop();
    }
    // The hard case: V8 inlined the helper into the handler in both deployments.
    for (const run of [v1, v2]) expect(inlinedByV8(run.stdout()).has("renderInvoice"), "V8 inlined renderInvoice").toBe(true);
    const [regression] = await incidents(db, "regression");
    console.log(regression?.summary);
    expect(regression?.culprits[0]).toMatchObject({ name: "renderInvoice", file: app });
    expect(regression?.culprits.map((c) => c.name)).not.toContain("(anonymous)");
  });
});
