import { execFileSync, spawn } from "node:child_process";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cleanup, ROOT, startFixture, tempDir, track } from "./harness.js";

afterEach(cleanup);

describe("the runtime tree the Docker image ships", () => {
  it("is complete: the CLI runs from it alone, attaches, stores and queries", async () => {
    const out = join(tempDir(), "opt-seismo");
    execFileSync("sh", [join(ROOT, "scripts/assemble-runtime.sh"), out], { cwd: ROOT });
    const cli = join(out, "cli/bin/seismo.js");
    const db = join(tempDir(), "image.db");
    const app = await startFixture("cpu-app.cjs", { env: { NODE_OPTIONS: "--inspect-port=0" } });
    // Run from a directory outside the checkout, so nothing resolves back into it.
    const attach = track(spawn(process.execPath, [cli, "attach", String(app.pid), "--db", db, "--window", "1s"], { cwd: out, stdio: ["ignore", "pipe", "pipe"] }));
    await attach.waitFor(/window 2:/);
    attach.child.kill("SIGINT");
    expect((await attach.exited).code, attach.stderr()).toBe(0);
    const top = JSON.parse(execFileSync(process.execPath, [cli, "top", "--db", db, "--json"], { cwd: out, encoding: "utf8" })) as Array<{ name: string }>;
    expect(top[0]?.name).toBe("hotFunction");
    // The NATS client (nested under agent-proto/node_modules) loads: a broker error, not a missing module.
    const analyzer = track(spawn(process.execPath, [cli, "analyzer", "--nats", "nats://127.0.0.1:1", "--db", db], { cwd: out, stdio: ["ignore", "pipe", "pipe"] }));
    await analyzer.exited;
    expect(analyzer.stderr()).toMatch(/SEISMO_BROKER_UNREACHABLE/);
  });
});
