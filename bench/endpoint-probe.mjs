#!/usr/bin/env node
// What the HTTP endpoint probe alone costs the app: one inspector session stays attached to the
// same app process throughout, and the probe is installed and removed in alternating rounds (ABBA
// order, so drift cancels) while autocannon loads the app. The probe is read every 10 s while
// installed, as the sensor does once a window. Reported: throughput and the app's CPU per request
// with and without the probe, and their per-round ratios.
// Run: node bench/endpoint-probe.mjs [--rounds 6] [--duration 15] [--connections 20]
import { execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { connectInspector, DEFAULT_HTTP_INSTRUMENT_SETTINGS, HttpInstrument } from "../daemon/dist/index.js";

const root = join(import.meta.dirname, "..");
const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "6" },
    duration: { type: "string", default: "15" },
    connections: { type: "string", default: "20" },
  },
});
const rounds = Number(values.rounds);
const duration = Number(values.duration);

let taskset = false;
try {
  execFileSync("taskset", ["-c", "0", "true"]);
  taskset = true;
} catch {
  // no taskset: unpinned
}
// On 2 cores: the app gets core 0; the load generator (this process) core 1.
if (taskset) execFileSync("taskset", ["-pc", "1", String(process.pid)]);
const [cmd, args] = taskset ? ["taskset", ["-c", "0", process.execPath]] : [process.execPath, []];
const app = spawn(cmd, [...args, "--inspect=127.0.0.1:0", join(root, "test/fixtures/http-app.cjs")], { stdio: ["ignore", "pipe", "pipe"] });
let output = "";
app.stdout.on("data", (d) => (output += d));
app.stderr.on("data", (d) => (output += d));
const waitFor = async (re) => {
  for (let i = 0; i < 400 && !re.test(output); i++) await new Promise((r) => setTimeout(r, 50));
  const m = output.match(re);
  if (!m) throw new Error(`timed out waiting for ${re}:\n${output}`);
  return m;
};
const port = Number((await waitFor(/listening (\d+)/))[1]);
const url = (await waitFor(/(ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/))[1];
const appPid = app.pid;
// The app's own pid (under taskset, the child execs node in place: same pid).
const session = await connectInspector(url);
const probe = new HttpInstrument(session, DEFAULT_HTTP_INSTRUMENT_SETTINGS);

/** utime + stime of a process, ms (USER_HZ = 100). */
function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
async function load(seconds) {
  // A UUID per request in the path, as real traffic has ids: the probe must normalize every one.
  const result = await autocannon({ url: `http://127.0.0.1:${port}/orders/[<id>]?min=100`, idReplacement: true, connections: Number(values.connections), duration: seconds });
  return { rps: result.requests.average, p99: result.latency.p99, errors: result.errors + result.non2xx, total: result.requests.total };
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

console.log(`app pid ${appPid} on port ${port}; ${rounds} rounds x 2 x ${duration}s${taskset ? "; app on core 0, load on core 1" : ""}; inspector session attached throughout`);
await load(5); // JIT warm-up

const rows = [];
let counted = 0;
for (let round = 1; round <= rounds; round++) {
  const order = round % 2 ? ["without", "with"] : ["with", "without"];
  for (const mode of order) {
    let reader;
    if (mode === "with") {
      await probe.install();
      await probe.read();
      reader = setInterval(async () => {
        for (const s of (await probe.read())?.endpoints ?? []) counted += s.count;
      }, 10_000);
    }
    const before = cpuMs(appPid);
    const r = await load(duration);
    const cpu = cpuMs(appPid) - before;
    if (mode === "with") {
      clearInterval(reader);
      for (const s of (await probe.read())?.endpoints ?? []) counted += s.count;
      await probe.remove();
    }
    const cpuPerRequestUs = (cpu * 1000) / r.total;
    rows.push({ round, mode, ...r, cpuPerRequestUs });
    console.log(`round ${round}  ${mode.padEnd(7)}  ${r.rps.toFixed(0).padStart(7)} req/s   p99 ${String(r.p99).padStart(4)} ms   app CPU ${cpuPerRequestUs.toFixed(1)} µs/req   errors ${r.errors}`);
  }
}
const of = (mode, key) => rows.filter((r) => r.mode === mode).map((r) => r[key]);
const ratios = (key) =>
  [...new Set(rows.map((r) => r.round))].map((round) => rows.find((r) => r.round === round && r.mode === "with")[key] / rows.find((r) => r.round === round && r.mode === "without")[key]);
const withTotal = rows.filter((r) => r.mode === "with").reduce((n, r) => n + r.total, 0);
console.log("");
console.log("| measure | without probe | with probe | ratio (with / without) |");
console.log("|---|---|---|---|");
console.log(`| throughput, median req/s | ${median(of("without", "rps")).toFixed(0)} | ${median(of("with", "rps")).toFixed(0)} | ${median(ratios("rps")).toFixed(3)} (per round: ${ratios("rps").map((x) => x.toFixed(3)).join(", ")}) |`);
console.log(`| app CPU per request, median µs | ${median(of("without", "cpuPerRequestUs")).toFixed(1)} | ${median(of("with", "cpuPerRequestUs")).toFixed(1)} | ${median(ratios("cpuPerRequestUs")).toFixed(3)} (per round: ${ratios("cpuPerRequestUs").map((x) => x.toFixed(3)).join(", ")}) |`);
console.log(`| p99 latency, median ms | ${median(of("without", "p99"))} | ${median(of("with", "p99"))} | |`);
console.log(`\nrequests the probe counted: ${counted} of ${withTotal} autocannon completed while it was installed`);
await session.close();
app.kill("SIGTERM");
