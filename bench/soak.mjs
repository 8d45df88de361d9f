#!/usr/bin/env node
// Memory soak: two identical apps under the same light load, one with
// `seismo attach` (1 s windows: ten times the default rotation rate), the other
// without. Prints both RSS figures over time and the attached app's excess
// growth. Run: node bench/soak.mjs [--minutes 5]
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const root = join(import.meta.dirname, "..");
const { values } = parseArgs({ options: { minutes: { type: "string", default: "5" }, window: { type: "string", default: "1s" } } });
const minutes = Number(values.minutes);
const dir = mkdtempSync(join(tmpdir(), "seismo-soak-"));

function start(cmd, args, env = {}) {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const waitFor = (re) =>
    new Promise((resolve, reject) => {
      const t0 = Date.now();
      const tick = () => (out.match(re) ? resolve(out.match(re)) : Date.now() - t0 > 20_000 ? reject(new Error(out)) : setTimeout(tick, 50));
      tick();
    });
  return { child, waitFor };
}

const rssMb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))[1]) / 1024;

const apps = [];
for (const name of ["plain", "attached"]) {
  const app = start(process.execPath, [join(root, "test/fixtures/http-app.cjs")], { NODE_OPTIONS: "--inspect-port=0" });
  const port = Number((await app.waitFor(/listening (\d+)/))[1]);
  apps.push({ name, app, port });
}
const sensor = start(process.execPath, [join(root, "cli/bin/seismo.js"), "attach", String(apps[1].app.child.pid), "--db", join(dir, "soak.db"), "--window", values.window]);
await sensor.waitFor(/attached to pid/);

// Light, steady load on both: 200 requests/s each.
let stopLoad = false;
const load = async (port) => {
  while (!stopLoad) {
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 20 }, () => fetch(`http://127.0.0.1:${port}/?min=100`).then((r) => r.text())));
    await new Promise((r) => setTimeout(r, Math.max(0, 100 - (Date.now() - t0))));
  }
};
const loads = apps.map((a) => load(a.port));

await new Promise((r) => setTimeout(r, 20_000)); // past start-up and the recompile
const base = apps.map((a) => rssMb(a.app.child.pid));
console.log(`soak: ${minutes} min, windows ${values.window}; RSS baseline plain ${base[0].toFixed(1)} MB, attached ${base[1].toFixed(1)} MB`);
console.log("| minute | plain RSS MB | attached RSS MB | attached growth - plain growth MB |");
console.log("|---|---|---|---|");
const samples = [];
for (let minute = 1; minute <= minutes; minute++) {
  await new Promise((r) => setTimeout(r, 60_000));
  const now = apps.map((a) => rssMb(a.app.child.pid));
  const excess = now[1] - base[1] - (now[0] - base[0]);
  samples.push(excess);
  console.log(`| ${minute} | ${now[0].toFixed(1)} | ${now[1].toFixed(1)} | ${excess.toFixed(1)} |`);
}
const rotations = (minutes * 60 + 20) / (Number.parseFloat(values.window) || 1);
console.log(`\nexcess growth of the attached app after ${minutes} min (~${Math.round(rotations)} window rotations): ${samples.at(-1).toFixed(1)} MB`);
stopLoad = true;
await Promise.all(loads);
sensor.child.kill("SIGINT");
await new Promise((r) => sensor.child.once("exit", r));
for (const a of apps) a.app.child.kill("SIGTERM");
rmSync(dir, { recursive: true, force: true });
