#!/usr/bin/env node
// Overhead of the Seismo sensor on a Node HTTP server: the same app process is
// loaded with autocannon in alternating rounds with and without `seismo attach`
// (ABBA order, so drift cancels), and the table reports throughput and p99
// latency ratios. Run: npm run bench -- [--rounds 4] [--duration 20] [--interval 10] [--sensor-args=--no-error-capture]
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";

const root = join(import.meta.dirname, "..");
const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "4" },
    duration: { type: "string", default: "20" },
    interval: { type: "string", default: "10" },
    window: { type: "string", default: "10s" },
    connections: { type: "string", default: "20" },
    // Extra flags for `seismo attach`, e.g. "--no-error-capture" to measure what one feature costs.
    "sensor-args": { type: "string", default: "" },
  },
});
const rounds = Number(values.rounds);
const duration = Number(values.duration);

function hasTaskset() {
  try {
    execFileSync("taskset", ["-c", "0", "true"]);
    return true;
  } catch {
    return false;
  }
}
// On 2 cores: the app gets core 0; the load generator and the sensor share core 1.
const pin = hasTaskset() ? (cpu, cmd, args) => ["taskset", ["-c", String(cpu), cmd, ...args]] : (_cpu, cmd, args) => [cmd, args];

function start(cpu, cmd, args, env = {}) {
  const [c, a] = pin(cpu, cmd, args);
  const child = spawn(c, a, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const waitFor = (re, ms = 20_000) =>
    new Promise((resolve, reject) => {
      const t0 = Date.now();
      const tick = () => {
        const m = out.match(re);
        if (m) return resolve(m);
        if (Date.now() - t0 > ms) return reject(new Error(`timed out waiting for ${re}:\n${out}`));
        setTimeout(tick, 50);
      };
      tick();
    });
  return { child, waitFor, output: () => out };
}

async function load(port, seconds) {
  const result = await autocannon({ url: `http://127.0.0.1:${port}/?min=100`, connections: Number(values.connections), duration: seconds });
  return { rps: result.requests.average, p99: result.latency.p99, errors: result.errors + result.non2xx };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const dir = mkdtempSync(join(tmpdir(), "seismo-bench-"));
const app = start(0, process.execPath, [join(root, "test/fixtures/http-app.cjs")], { NODE_OPTIONS: "--inspect-port=0" });
const port = Number((await app.waitFor(/listening (\d+)/))[1]);
console.log(`app pid ${app.child.pid} on port ${port}; ${rounds} rounds x 2 x ${duration}s; sampling ${values.interval} ms, windows ${values.window}${hasTaskset() ? "; app pinned to core 0" : ""}`);
await load(port, 5); // warm up the JIT before measuring anything

/** utime + stime of a process, ms (USER_HZ = 100). */
function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

let sensor;
const sensorCpu = [];
const rewarm = [];
async function attach() {
  sensor = start(1, process.execPath, [join(root, "cli/bin/seismo.js"), "attach", String(app.child.pid), "--db", join(dir, "bench.db"), "--interval", values.interval, "--window", values.window, ...values["sensor-args"].split(" ").filter(Boolean)]);
  await sensor.waitFor(/attached to pid/);
  // The one-off recompile on attach and the JIT's re-warm-up: measured, reported apart from the steady state.
  const warm = await load(port, 5);
  rewarm.push(warm.rps);
}
async function detach() {
  sensor.child.kill("SIGINT");
  await new Promise((r) => sensor.child.once("exit", r));
}

const rows = [];
for (let round = 1; round <= rounds; round++) {
  const order = round % 2 ? ["without", "with"] : ["with", "without"];
  for (const mode of order) {
    if (mode === "with") await attach();
    const cpuBefore = cpuMs(app.child.pid);
    const sensorBefore = mode === "with" ? cpuMs(sensor.child.pid) : 0;
    const started = Date.now();
    const r = await load(port, duration);
    const elapsed = Date.now() - started;
    const appCpu = (cpuMs(app.child.pid) - cpuBefore) / elapsed;
    if (mode === "with") {
      sensorCpu.push((cpuMs(sensor.child.pid) - sensorBefore) / elapsed);
      await detach();
    }
    // CPU the app spent per request: a sensor cost that a throughput ratio can hide when the app is not CPU-bound.
    rows.push({ round, mode, ...r, cpuPerRequestUs: (appCpu * elapsed * 1000) / (r.rps * (elapsed / 1000)) });
    const last = rows.at(-1);
    console.log(
      `round ${round}  ${mode.padEnd(7)}  ${r.rps.toFixed(0).padStart(7)} req/s   p99 ${String(r.p99).padStart(4)} ms   app CPU ${last.cpuPerRequestUs.toFixed(1)} µs/req   errors ${r.errors}`,
    );
  }
}

const rps = (mode) => rows.filter((r) => r.mode === mode).map((r) => r.rps);
const p99 = (mode) => rows.filter((r) => r.mode === mode).map((r) => r.p99);
const perRound = [...new Set(rows.map((r) => r.round))].map((round) => {
  const w = rows.find((r) => r.round === round && r.mode === "with");
  const wo = rows.find((r) => r.round === round && r.mode === "without");
  return w.rps / wo.rps;
});
console.log("");
console.log("| measure | without sensor | with sensor | ratio (with / without) |");
console.log("|---|---|---|---|");
console.log(`| throughput, median req/s | ${median(rps("without")).toFixed(0)} | ${median(rps("with")).toFixed(0)} | ${(median(rps("with")) / median(rps("without"))).toFixed(3)} |`);
console.log(`| p99 latency, median ms | ${median(p99("without"))} | ${median(p99("with"))} | ${(median(p99("with")) / median(p99("without"))).toFixed(3)} |`);
console.log(`| per-round throughput ratios | | | ${perRound.map((x) => x.toFixed(3)).join(", ")} |`);
const cpuPerReq = (mode) => rows.filter((r) => r.mode === mode).map((r) => r.cpuPerRequestUs);
console.log(`| app CPU per request, median µs | ${median(cpuPerReq("without")).toFixed(1)} | ${median(cpuPerReq("with")).toFixed(1)} | ${(median(cpuPerReq("with")) / median(cpuPerReq("without"))).toFixed(3)} |`);
console.log(`| sensor process CPU, median % of a core | | ${(median(sensorCpu) * 100).toFixed(2)} % | |`);
console.log(
  `| first 5 s after attach (recompile + re-warm), median req/s | ${median(rps("without")).toFixed(0)} | ${median(rewarm).toFixed(0)} | ${(median(rewarm) / median(rps("without"))).toFixed(3)} |`,
);
const loss = 1 - median(perRound);
console.log(`\nthroughput loss (median of per-round ratios): ${(loss * 100).toFixed(2)} %  (target at default settings: <= 1 %)`);
app.child.kill("SIGTERM");
rmSync(dir, { recursive: true, force: true });
