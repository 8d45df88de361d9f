import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { cleanup, expectCpuAppSplit, httpGet, ROOT, seismo, seismoRun, startFixture, tempDir, track } from "./harness.js";

afterEach(cleanup);

interface TopRow {
  name: string;
  file: string;
  line: number;
  package: string | null;
  packageVersion: string | null;
  selfMs: number;
  totalMs: number;
  selfShare: number;
  samples: number;
}

async function top(db: string, extra: string[] = []): Promise<TopRow[]> {
  const result = await seismoRun(["top", "--db", db, "--since", "10m", "--json", ...extra]);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as TopRow[];
}

describe("embedded mode (no broker)", () => {
  it("seismo run: the fixture's CPU-bound function is the top self-time function, at its designed share", async () => {
    const db = join(tempDir(), "run.db");
    // 45 ms hot + 15 ms cold per cycle: hotFunction is built to spend 75 % of the app's busy time.
    const started = Date.now();
    const run = seismo(["run", "--db", db, "--window", "1s", "--", process.execPath, join(ROOT, "test/fixtures/cpu-app.cjs")], {
      EXIT_AFTER_MS: "5000",
    });
    const { code } = await run.exited;
    expect(code, run.stderr()).toBe(0);
    expect(Date.now() - started).toBeLessThan(7_500); // seismo ends promptly once the app has (5 s)
    expect(run.stderr()).toMatch(/attached to pid \d+/);
    expect(run.stderr()).toMatch(/exited \(\d+ window rotation\(s\), round trip median [\d.]+ ms, max [\d.]+ ms\)/);
    expect(run.stderr()).toMatch(/\[seismo\] window \d+: .* hotFunction/);
    expect(run.stdout()).toMatch(/listening \d+/); // the app's own output passes through

    const rows = await top(db);
    const [first] = rows;
    expect(first?.name).toBe("hotFunction");
    expect(first?.package).toBeNull();
    expect(first?.file).toBe(join(ROOT, "test/fixtures/cpu-app.cjs"));
    expect(first?.line).toBe(11);
    expectCpuAppSplit(rows);

    const targets = await seismoRun(["targets", "--db", db, "--json"]);
    expect(targets.code, targets.stderr).toBe(0);
    const [target] = JSON.parse(targets.stdout) as Array<{ status: string; endReason: string; nodeVersion: string; windows: number }>;
    expect(target).toMatchObject({ status: "ended", endReason: "TARGET_EXITED", nodeVersion: process.version });
    expect(target?.windows).toBeGreaterThanOrEqual(4);
  });

  it("seismo attach: a function inside a real npm dependency is attributed to its package and version; Ctrl-C detaches", async () => {
    const app = await startFixture("dep-app.cjs", { env: { IDLE_MS: "5" } });
    const db = join(tempDir(), "attach.db");
    const attach = seismo(["attach", String(app.pid), "--db", db, "--window", "1s"]);
    await attach.waitFor(/window 3:/, 20_000);
    attach.child.kill("SIGINT");
    const { code } = await attach.exited;
    expect(code, attach.stderr()).toBe(0);
    expect(attach.stderr()).toMatch(/detached/);

    expect(await httpGet(app.port)).toBe("ok"); // the app keeps serving after we leave
    const bcryptVersion = (JSON.parse(readFileSync(join(ROOT, "node_modules/bcryptjs/package.json"), "utf8")) as { version: string })
      .version;
    const rows = await top(db);
    expect(rows[0]?.package).toBe("bcryptjs");
    expect(rows[0]?.packageVersion).toBe(bcryptVersion);
    const caller = rows.find((r) => r.name === "hashPassword");
    expect(caller?.package).toBeNull();
    expect(caller?.totalMs).toBeGreaterThan(rows[0]?.selfMs ?? Number.POSITIVE_INFINITY);
  });

  it("seismo run through a wrapper (sh -c) finds the Node process under it and exits with its code", async () => {
    const db = join(tempDir(), "wrapped.db");
    const script = `${process.execPath} ${join(ROOT, "test/fixtures/cpu-app.cjs")}; exit 3`;
    // No release variable set: the deployment is named by a fingerprint of the app's code.
    const unlabelled = Object.fromEntries(["SEISMO_DEPLOYMENT", "DD_VERSION", "OTEL_SERVICE_VERSION", "GIT_COMMIT", "GIT_SHA", "COMMIT_SHA", "SOURCE_VERSION", "IMAGE_TAG"].map((n) => [n, ""]));
    const run = seismo(["run", "--db", db, "--window", "1s", "--", "sh", "-c", script], { EXIT_AFTER_MS: "3000", ...unlabelled });
    const { code } = await run.exited;
    expect(code, run.stderr()).toBe(3);
    expect(run.stderr()).toMatch(/attached to pid \d+ \(node v/);
    expect((await top(db))[0]?.name).toBe("hotFunction");
    const fingerprint = run.stderr().match(/deployment (code-[0-9a-f]{12}) \(from code:\d+ files\)/)?.[1];
    expect(fingerprint, run.stderr()).toBeDefined();
    const listed = await seismoRun(["deployments", "--db", db, "--json"]);
    expect((JSON.parse(listed.stdout) as Array<{ deployment: string }>).map((d) => d.deployment)).toEqual([fingerprint]);
  });

  it("seismo run on a terminal keeps a live table below the app's output", async () => {
    const db = join(tempDir(), "tty.db");
    const command = [process.execPath, join(ROOT, "cli/bin/seismo.js"), "run", "--db", db, "--window", "1s", "--", process.execPath, join(ROOT, "test/fixtures/cpu-app.cjs")];
    // util-linux `script` gives the command a real pseudo-terminal.
    const tty = track(spawn("script", ["-qfec", command.map((w) => `'${w}'`).join(" "), "/dev/null"], { env: { ...process.env, EXIT_AFTER_MS: "3500", COLUMNS: "120" }, stdio: ["pipe", "pipe", "pipe"] }));
    const { code } = await tty.exited;
    const screen = tty.stdout();
    expect(code, screen).toBe(0);
    expect(screen).toMatch(/── seismo · top functions, last 60 s/);
    expect(screen).toMatch(/SELF%\s+TOTAL%\s+SELF\s+FUNCTION/);
    // The terminal escape (cursor up, clear below) is the very thing asserted: the table is erased and redrawn, not appended.
    // eslint-disable-next-line no-control-regex
    expect(screen).toMatch(/\x1b\[\d+A\x1b\[0J/);
    expect(screen).toMatch(/listening \d+/); // the app's own output, above it
    expect(screen).toMatch(/hotFunction/);
  });

  it("seismo top: a human table, and a clear error when there is no database", async () => {
    const missing = await seismoRun(["top", "--db", join(tempDir(), "none.db")]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split("\n")).toHaveLength(1);
    expect(missing.stderr).toMatch(/No Seismo database at .*none\.db\. Run `seismo run/);
    const usage = await seismoRun(["top", "--since", "soon"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/"soon" is not a duration/);
  });
});
