#!/usr/bin/env node
// Forensic capture on a real target (test/fixtures/capture-app.cjs):
//
//   1. cost of a capture on a hot function, armed for 5 hits: tinyHot called
//      20,000 times a second (requests every 10 ms of 200 calls each); the
//      total latency added to the target's requests from the arm to a second
//      after the disarm (target: < 5 ms), and the throughput in the second
//      after the disarm (target: back to normal). Then a stress case: 20,000
//      calls in one synchronous loop per request, where every call between
//      the last hit and the breakpoint's removal traps into the debugger;
//   2. error probes armed at the start of a line (as for an exception thrown
//      by a call on it; one armed on a `throw` expression traps only when it
//      throws): the cost of each run of the line while armed, at 20, 100 and
//      20,000 runs a second (over 50 a second, it must remove itself);
//   3. 1,000 arm/disarm cycles (each one hit, then the breakpoint removed and
//      the session closed): the target's heap after a full GC and its RSS,
//      before and after (target: flat within a few MB), and whether any
//      breakpoint is left (the capture function's call count over a fresh
//      session does not move when the function runs).
//
// Run: node bench/capture.mjs [--cycles 1000] [--rounds 3]
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CALLS_EXPRESSION, connectInspector } from "@seismo/daemon";

const root = join(import.meta.dirname, "..");
const app = join(root, "test", "fixtures", "capture-app.cjs");
const { values } = parseArgs({ options: { cycles: { type: "string", default: "1000" }, rounds: { type: "string", default: "3" } } });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const child = spawn(process.execPath, [app], { env: { ...process.env, NODE_OPTIONS: "--inspect=127.0.0.1:0" }, stdio: ["ignore", "pipe", "pipe"] });
process.on("exit", () => child.kill("SIGKILL"));
let out = "";
child.stdout.on("data", (d) => (out += d));
child.stderr.on("data", (d) => (out += d));
while (!/listening (\d+)/.test(out) || !/ws:\/\/127\.0\.0\.1:\d+\/[\w-]+/.test(out)) await sleep(20);
const port = Number(out.match(/listening (\d+)/)[1]);
const url = out.match(/(ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/)[1];
// The daemon's side runs in a process of its own, as in production: the load driver here must not
// delay its handling of the target's notifications.
const daemon = spawn(process.execPath, ["--input-type=module", "-e", `
  import { Captures, connectInspector, silentLogger, targetFileReader } from "@seismo/daemon";
  const target = { targetId: "bench:${child.pid}:1", daemonId: "bench", service: "capture-app", deployment: "", pid: ${child.pid}, host: "", pod: "", namespace: "" };
  const captures = new Captures({ connect: () => connectInspector(${JSON.stringify(url)}), readFile: targetFileReader(${child.pid}), target: () => target,
    publish: (s) => process.send({ snapshot: { probeId: s.probeId, hit: s.hit, captureCostUs: s.captureCostUs } }),
    log: { info: (m) => { if (m.includes("disarmed")) process.send({ disarmed: m.split(" ")[1] }); }, warn() {}, error() {} } });
  process.on("message", async (m) => {
    if (m.arm) process.send({ armed: (await captures.arm(m.arm)).probeId, ref: m.ref });
    if (m.disarm) { await captures.disarm(m.disarm); process.send({ disarmed: m.disarm }); }
    if (m.close) { await captures.close(); process.exit(0); }
  });
`], { cwd: root, stdio: ["ignore", "inherit", "inherit", "ipc"] });
process.on("exit", () => daemon.kill("SIGKILL"));
const snapshots = [];
const disarmed = new Set();
const waiting = new Map();
let refs = 0;
daemon.on("message", (m) => {
  if (m.snapshot) snapshots.push(m.snapshot);
  if (m.disarmed) disarmed.add(m.disarmed);
  if (m.armed) waiting.get(m.ref)?.(m.armed);
});
const captures = {
  arm: (request) => new Promise((resolve) => { const ref = ++refs; waiting.set(ref, (probeId) => resolve({ probeId })); daemon.send({ arm: request, ref }); }),
  armed: () => [...new Set(snapshots.map((s) => s.probeId))].filter((id) => !disarmed.has(id)).map((probeId) => ({ probeId })),
  isArmed: (probeId) => !disarmed.has(probeId),
  disarmProbe: async (probeId) => { daemon.send({ disarm: probeId }); while (!disarmed.has(probeId)) await sleep(5); },
  close: () => new Promise((resolve) => { daemon.on("exit", resolve); daemon.send({ close: true }); }),
};

const hot = async (n) => {
  const started = performance.now();
  const body = await (await fetch(`http://127.0.0.1:${port}/hot?n=${n}`)).json();
  return { at: started, loopMs: body.ms, requestMs: performance.now() - started };
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * A request every `everyMs`, each calling tinyHot `n` times (n * 1000 / everyMs calls a second).
 * Runs `ms` of them and returns each request's loop time.
 */
async function drive(n, ms, onTick = () => {}, everyMs = 10) {
  const results = [];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const next = performance.now() + everyMs;
    results.push(await hot(n));
    onTick();
    const wait = next - performance.now();
    if (wait > 0) await sleep(wait);
  }
  return results;
}

console.log(`target pid ${child.pid}, node ${process.version}`);
// Warm up: let V8 optimize tinyHot.
await drive(200, 2_000);

for (const [label, n, everyMs] of [
  ["20,000 calls/s as 20 calls in each of 1,000 requests/s", 20, 1],
  ["20,000 calls/s as 200 calls in each of 100 requests/s", 200, 10],
  ["stress: 20,000 calls in one synchronous loop per request", 20_000, 10],
]) {
  const window = 3_000;
  for (let round = 1; round <= Number(values.rounds); round++) {
    const before = await drive(n, 1_000, () => {}, everyMs);
    const base = median(before.map((r) => r.loopMs));
    const baseRequest = median(before.map((r) => r.requestMs));
    const armedAt = performance.now();
    const probe = await captures.arm({ trigger: "bench", file: app, functionName: "tinyHot", hits: 5, minIntervalMs: 0 });
    let disarmedAt;
    const during = await drive(
      n,
      window,
      () => {
        if (disarmedAt === undefined && !captures.isArmed(probe.probeId)) disarmedAt = performance.now();
      },
      everyMs,
    );
    const hits = snapshots.filter((s) => s.probeId === probe.probeId);
    // Added latency: every request's loop time above the median before, from the arm to a second after the disarm.
    const affected = during.filter((r) => r.at < disarmedAt + 1_000);
    const added = affected.reduce((sum, r) => sum + Math.max(0, r.loopMs - base), 0);
    const after = during.filter((r) => r.at >= disarmedAt && r.at < disarmedAt + 1_000);
    const requestAfter = median(after.map((r) => r.requestMs));
    console.log(
      `${label}, round ${round}: ${hits.length} snapshots (capture cost ${hits.map((s) => s.captureCostUs).join(", ")} µs), ` +
        `armed ${(disarmedAt - armedAt).toFixed(0)} ms; loop ${base.toFixed(3)} ms per request before; ` +
        `added latency ${added.toFixed(2)} ms in all (worst request +${Math.max(...affected.map((r) => r.loopMs - base)).toFixed(2)} ms); ` +
        `the second after the disarm: request latency ${requestAfter.toFixed(2)} ms (median) vs ${baseRequest.toFixed(2)} ms before, ` +
        `loop ${median(after.map((r) => r.loopMs)).toFixed(3)} ms (the function is re-optimized over the next seconds)`,
    );
  }
}

// Error probes: armed at a throw site, they trap into the debugger on every run of the line and
// keep its values (no serializing) until an exception comes through. The cost of one such trap,
// at a rate a request handler's line sees, and what happens on a line that runs far too often.
// The line of `hot += i & 1;` in test/fixtures/capture-app.cjs (1-based).
const tinyHotLine = readFileSync(app, "utf8").split("\n").findIndex((l) => l.includes("hot += i & 1;")) + 1;
for (const [label, n, everyMs] of [
  ["error probe on a line run 20 times/s (1 call in each of 20 requests/s)", 1, 50],
  ["error probe on a line run 100 times/s (1 call in each of 100 requests/s)", 1, 10],
  ["error probe on a line run 20,000 times/s (200 calls in each of 100 requests/s)", 200, 10],
]) {
  for (let round = 1; round <= Number(values.rounds); round++) {
    const before = await drive(n, 1_000, () => {}, everyMs);
    const base = median(before.map((r) => r.loopMs));
    const armedAt = performance.now();
    const probe = await captures.arm({ trigger: "bench-error", file: app, line: tinyHotLine, hits: 1, ttlMs: 60_000, error: "bench" });
    let removedAt;
    const during = await drive(n, 2_000, () => {
      if (removedAt === undefined && !captures.isArmed(probe.probeId)) removedAt = performance.now();
    }, everyMs);
    const armedPart = during.filter((r) => removedAt === undefined || r.at < removedAt);
    const perTrapUs = armedPart.length > 0 ? (1000 * armedPart.reduce((sum, r) => sum + (r.loopMs - base), 0)) / (armedPart.length * n) : Number.NaN;
    console.log(
      `${label}, round ${round}: ${removedAt === undefined ? "still armed after 2 s" : `removed itself after ${(removedAt - armedAt).toFixed(0)} ms (too hot)`}; ` +
        `each run of the line cost ${perTrapUs.toFixed(1)} µs more while armed (${armedPart.length} requests)`,
    );
    if (removedAt === undefined) await captures.disarmProbe(probe.probeId);
  }
}

// Memory over arm/disarm cycles.
const observer = await connectInspector(url);
const evaluate = async (expression) => (await observer.send("Runtime.evaluate", { expression, returnByValue: true })).result.value;
const memory = async () => {
  await observer.send("HeapProfiler.collectGarbage");
  return evaluate("(() => { const m = process.memoryUsage(); return { heap: m.heapUsed, rss: m.rss }; })()");
};
const mb = (b) => (b / 1024 / 1024).toFixed(1);
const start = await memory();
const t0 = performance.now();
const cycles = Number(values.cycles);
for (let i = 0; i < cycles; i++) {
  const probe = await captures.arm({ trigger: "bench", file: app, functionName: "priceOrder", hits: 1, minIntervalMs: 0 });
  await fetch(`http://127.0.0.1:${port}/order?id=${i % 10}`).then((r) => r.text());
  while (captures.isArmed(probe.probeId)) await sleep(1);
}
const elapsed = performance.now() - t0;
const end = await memory();
const callsBefore = await evaluate(CALLS_EXPRESSION);
for (let i = 0; i < 50; i++) await fetch(`http://127.0.0.1:${port}/order?id=1`).then((r) => r.text());
const callsAfter = await evaluate(CALLS_EXPRESSION);
console.log(
  `${cycles} arm/capture/disarm cycles in ${(elapsed / 1000).toFixed(1)} s: heap ${mb(start.heap)} → ${mb(end.heap)} MB (${mb(end.heap - start.heap)}), ` +
    `RSS ${mb(start.rss)} → ${mb(end.rss)} MB (${mb(end.rss - start.rss)}); snapshots ${snapshots.length}; ` +
    `breakpoints left: ${callsAfter === callsBefore ? "none" : `YES (${callsAfter - callsBefore} condition calls over 50 requests)`}`,
);
await observer.close();
await captures.close();
child.kill("SIGTERM");
