import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { codeFingerprint } from "../src/target/code-fingerprint.js";
import { resolveIdentity } from "../src/target/identity.js";
import { parseDownwardLabels, readPodLabels } from "../src/target/pod-labels.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** An app tree: package.json, lockfile, sources, a node_modules dependency and a .git directory. */
function app(): string {
  const root = mkdtempSync(join(tmpdir(), "seismo-fp-"));
  dirs.push(root);
  for (const dir of ["src/lib", "node_modules/dep", ".git"]) mkdirSync(join(root, dir), { recursive: true });
  const files: Record<string, string> = {
    "package.json": '{"name":"shop"}',
    "package-lock.json": '{"lockfileVersion":3,"packages":{"node_modules/dep":{"version":"1.0.0"}}}',
    "src/server.js": "require('./lib/invoice.js');",
    "src/lib/invoice.js": "exports.render = () => 1;",
    "README.md": "docs are not code",
    "node_modules/dep/index.js": "module.exports = 1;",
    ".git/HEAD": "ref: refs/heads/main",
  };
  for (const [path, text] of Object.entries(files)) writeFileSync(join(root, path), text);
  return root;
}

describe("deployment identity", () => {
  it("fingerprints the app's code: the same code gives the same label, a changed source or lockfile a new one", async () => {
    const root = app();
    const script = join(root, "src/server.js");
    const first = await codeFingerprint(script);
    expect(first?.label).toMatch(/^code-[0-9a-f]{12}$/);
    expect(first).toMatchObject({ root, files: 4, capped: false });
    // A copy of the same tree elsewhere (another pod, another checkout) is the same deployment.
    const copy = app();
    expect((await codeFingerprint(join(copy, "src/server.js")))?.label).toBe(first?.label);
    // Modification times, docs, node_modules and .git do not count.
    utimesSync(join(root, "src/lib/invoice.js"), new Date(0), new Date(0));
    writeFileSync(join(root, "README.md"), "changed docs");
    writeFileSync(join(root, "node_modules/dep/index.js"), "module.exports = 2;");
    writeFileSync(join(root, ".git/HEAD"), "ref: refs/heads/other");
    expect((await codeFingerprint(script))?.label).toBe(first?.label);
    // A changed source, or a changed lockfile (a dependency upgrade), is a new deployment.
    writeFileSync(join(root, "src/lib/invoice.js"), "exports.render = () => 2;");
    const edited = await codeFingerprint(script);
    expect(edited?.label).not.toBe(first?.label);
    writeFileSync(join(copy, "package-lock.json"), '{"lockfileVersion":3,"packages":{"node_modules/dep":{"version":"1.0.1"}}}');
    expect((await codeFingerprint(join(copy, "src/server.js")))?.label).not.toBe(first?.label);
  });

  it("stays within its caps, fingerprints a lone script by itself, and gives up rather than guess", async () => {
    const root = app();
    const capped = await codeFingerprint(join(root, "src/server.js"), "", { maxFiles: 2, maxBytes: 1e6, timeBudgetMs: 1_000 });
    expect(capped).toMatchObject({ capped: true });
    const lone = mkdtempSync(join(tmpdir(), "seismo-fp-lone-"));
    dirs.push(lone);
    writeFileSync(join(lone, "a.js"), "1");
    writeFileSync(join(lone, "b.js"), "2");
    expect(await codeFingerprint(join(lone, "a.js"))).toMatchObject({ files: 1 });
    expect(await codeFingerprint(undefined)).toBeUndefined();
    expect(await codeFingerprint(join(lone, "missing.js"))).toBeUndefined();
    expect(await codeFingerprint(join(root, "src/server.js"), "", { maxFiles: 100, maxBytes: 1e6, timeBudgetMs: -1 })).toBeUndefined();
  });

  it("reads Kubernetes pod labels from the downward API file", () => {
    const text = 'app="shop"\napp.kubernetes.io/version="1.4.2"\npod-template-hash="7d9f8c6b5"\nnote="a \\"quoted\\" value"\n';
    const labels = parseDownwardLabels(text);
    expect(labels.get("app.kubernetes.io/version")).toBe("1.4.2");
    expect(labels.get("note")).toBe('a "quoted" value');
    const dir = mkdtempSync(join(tmpdir(), "seismo-podinfo-"));
    dirs.push(dir);
    writeFileSync(join(dir, "labels"), text);
    expect(readPodLabels(undefined, dir).get("pod-template-hash")).toBe("7d9f8c6b5");
    expect(readPodLabels(undefined, join(dir, "absent")).size).toBe(0);
  });

  it("takes the deployment from the flag, then the environment, then the pod's labels, and says which", () => {
    const facts = { pid: 1, nodeVersion: "v20", v8Version: "11", argv: ["/usr/bin/node", "/app/server.js"], execArgv: [], cwd: "/app" };
    const podLabels = new Map([
      ["app", "shop"],
      ["pod-template-hash", "7d9f8c6b5"],
    ]);
    expect(resolveIdentity({ env: new Map(), facts, podLabels })).toEqual({ service: "shop", deployment: "7d9f8c6b5", deploymentSource: "label:pod-template-hash" });
    const versioned = new Map([...podLabels, ["app.kubernetes.io/version", "1.4.2"]]);
    expect(resolveIdentity({ env: new Map(), facts, podLabels: versioned }).deployment).toBe("1.4.2");
    expect(resolveIdentity({ env: new Map([["IMAGE_TAG", "2026.11.1"]]), facts, podLabels: versioned })).toMatchObject({ deployment: "2026.11.1", deploymentSource: "env:IMAGE_TAG" });
    expect(resolveIdentity({ flagDeployment: "v9", env: new Map([["IMAGE_TAG", "x"]]), facts, podLabels })).toMatchObject({ deployment: "v9", deploymentSource: "flag" });
    expect(resolveIdentity({ env: new Map(), facts })).toMatchObject({ service: "server", deployment: "", deploymentSource: "none" });
  });
});
