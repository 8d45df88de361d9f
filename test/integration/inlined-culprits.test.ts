import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanup, FIXTURES, seismo, seismoRun, sleep, startFixture, startLoad, tempDir } from "./harness.js";
import { inlinedByV8 } from "./profile-shares.js";

afterAll(cleanup);

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
    // The hard case happened: V8 inlined checksum into the handler. (Read once the app has exited:
    // V8 writes its trace through a buffer that a piped stdout flushes only then.)
    app.child.kill("SIGTERM");
    await app.exited;
    expect(inlinedByV8(app.stdout()).has("checksum"), "V8 inlined checksum").toBe(true);
  });
});
