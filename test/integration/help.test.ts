import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, seismoRun } from "./harness.js";

describe("seismo --help", () => {
  it("lists the verbs, and every verb explains itself", async () => {
    const top = await seismoRun(["--help"]);
    expect(top.code).toBe(0);
    for (const verb of ["run", "attach", "top", "targets", "incidents", "show", "profile", "deployments", "diff", "snapshots", "requests", "capture", "triage", "heads-up", "mcp", "daemon", "analyzer"]) {
      expect(top.stdout).toContain(verb);
      const help = await seismoRun([verb, "--help"]);
      expect(help.code, help.stderr).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`^Usage: seismo ${verb}`));
      expect(help.stdout.length).toBeGreaterThan(300);
    }
  });

  it("--version prints the package version", async () => {
    const version = (JSON.parse(readFileSync(join(ROOT, "daemon/package.json"), "utf8")) as { version: string }).version;
    const result = await seismoRun(["--version"]);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(version);
  });

    it("an unknown verb or flag is a usage error (exit 2) that says where to look", async () => {
    const verb = await seismoRun(["frobnicate"]);
    expect(verb.code).toBe(2);
    expect(verb.stderr).toMatch(/unknown verb "frobnicate".*seismo --help/);
    const flag = await seismoRun(["top", "--bogus"]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/--bogus.*seismo <verb> --help/);
    const show = await seismoRun(["show"]);
    expect(show.code).toBe(2);
    expect(show.stderr).toMatch(/Give the incident id/);
    const burst = await seismoRun(["attach", "1", "--burst-duration", "1m"]);
    expect(burst.code).toBe(2);
    expect(burst.stderr).toMatch(/--burst-duration must be between/);
    const run = await seismoRun(["run"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/Give the command to run after --/);
  });
});
