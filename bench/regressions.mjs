#!/usr/bin/env node
// Regressions after a deployment, measured end to end with `seismo run` at
// default settings (10 ms sampling, 10 s windows, the default regression
// watch: checks at 12, 30, 60 and 180 windows) on test/fixtures/deploy-app.cjs
// under random (Poisson) keep-alive HTTP load at --rate requests/s:
//
//   v1   --baseline-minutes of the app as it is;
//   v1b  the same code again, as long: must open no regression (a false alarm
//        at real sizes), and its comparison with v1 gives the noise: the
//        smallest change the detector can resolve with this much data;
//   v2   renderInvoice 30 % slower, nothing else: time from v2's start to the
//        regression incident (target: <= 2 min at >= 50 req/s), capped at
//        --minutes;
//   then, for each factor in --small (e.g. 1.1,1.15), one more deployment
//        making renderInvoice that much slower than the one before, for
//        --minutes: detected or not, and when.
//
// Every deployment is its own `seismo run` writing one database, as restarts
// of a real service are.
//
// Run: node bench/regressions.mjs [--rate 50] [--units 4] [--baseline-minutes 10] [--minutes 10] [--small 1.1,1.15]
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { normalQuantile as quantile } from "@seismo/analyzer";
import Database from "better-sqlite3";

const root = join(import.meta.dirname, "..");
const seismoBin = join(root, "cli", "bin", "seismo.js");
const { values } = parseArgs({
  options: {
    rate: { type: "string", default: "50" },
    units: { type: "string", default: "4" },
    "baseline-minutes": { type: "string", default: "10" },
    minutes: { type: "string", default: "10" },
    small: { type: "string", default: "1.1,1.15" },
    window: { type: "string", default: "10s" },
  },
});
const rate = Number(values.rate);
const baselineMs = Number(values["baseline-minutes"]) * 60_000;
const capMs = Number(values.minutes) * 60_000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const dir = mkdtempSync(join(tmpdir(), "seismo-bench-regress-"));
const db = join(dir, "seismo.db");
const children = new Set();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

function startLoad(port, perSecond) {
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });
  let answered = 0;
  let timer;
  const next = () => {
    const req = request({ host: "127.0.0.1", port, path: "/", agent }, (res) => {
      res.resume();
      res.on("end", () => answered++);
    });
    req.on("error", () => {});
    req.end();
    timer = setTimeout(next, (-Math.log(1 - Math.random()) * 1000) / perSecond);
  };
  next();
  return {
    stop() {
      clearTimeout(timer);
      agent.destroy();
      return answered;
    },
  };
}

/** One deployment under `seismo run`, loaded; resolves when it is attached. */
async function deploy(label, slowFactor) {
  const child = spawn(
    process.execPath,
    [seismoBin, "run", "--db", db, "--window", values.window, "--no-spikes", "--deployment", label, "--", process.execPath, join(root, "test", "fixtures", "deploy-app.cjs")],
    { env: { ...process.env, UNITS: values.units, SLOW_FACTOR: String(slowFactor) }, stdio: ["ignore", "pipe", "pipe"] },
  );
  children.add(child);
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const exited = new Promise((r) => child.on("close", () => (children.delete(child), r())));
  const waitFor = async (re, ms) => {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = out.match(re);
      if (m) return m;
      if (Date.now() > deadline) return undefined;
      await sleep(200);
    }
  };
  const port = Number((await waitFor(/listening (\d+)/, 20_000))?.[1]);
  if (!(await waitFor(/attached to pid/, 20_000))) throw new Error(`not attached:\n${out}`);
  const startedAt = Date.now();
  const load = startLoad(port, rate);
  return {
    startedAt,
    waitFor,
    async stop() {
      const answered = load.stop();
      child.kill("SIGTERM");
      await exited;
      return answered;
    },
  };
}

function regressionOf(label) {
  const conn = new Database(db, { readonly: true });
  try {
    return conn.prepare("SELECT * FROM incidents WHERE kind = 'regression' AND deployment = ?").get(label);
  } finally {
    conn.close();
  }
}

function diff(from, to) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [seismoBin, "diff", "--from", from, "--to", to, "--db", db, "--all", "--json"], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("close", () => resolve(JSON.parse(out)));
  });
}

/** Runs a deployment until its regression incident or the cap; returns seconds to detection or null. */
async function runUntilDetected(label, factor, capMsHere) {
  const d = await deploy(label, factor);
  const found = await d.waitFor(/incident reg-[0-9a-f]{10}: Regression in/, capMsHere);
  const seconds = found ? (Date.now() - d.startedAt) / 1_000 : null;
  const answered = await d.stop();
  return { seconds, answered };
}

console.log(`rate ${rate} req/s, UNITS=${values.units}, windows ${values.window}, baseline ${values["baseline-minutes"]} min, cap ${values.minutes} min`);
const v1 = await deploy("v1", 1);
await sleep(baselineMs);
const v1Answered = await v1.stop();
const v1bRun = await deploy("v1b", 1);
await sleep(baselineMs);
const v1bAnswered = await v1bRun.stop();
const cpuPerRequest = (() => {
  const conn = new Database(db, { readonly: true });
  try {
    return conn.prepare("SELECT SUM(cpu_us) AS us FROM windows WHERE deployment = 'v1'").get().us / v1Answered / 1_000;
  } finally {
    conn.close();
  }
})();
console.log(`v1: ${v1Answered} requests, ${cpuPerRequest.toFixed(2)} ms CPU each (sampled)`);
const same = await diff("v1", "v1b");
const falseAlarm = regressionOf("v1b");
console.log(`v1b (identical code): ${v1bAnswered} requests; regression opened: ${falseAlarm ? `YES (${falseAlarm.summary})` : "no"}`);
const fmt = (c) => `${c.name} ${((c.ratio - 1) * 100).toFixed(1)} % (95 % CI ${((c.ciLow - 1) * 100).toFixed(1)}…${((c.ciHigh - 1) * 100).toFixed(1)} %), z ${c.z.toFixed(2)}`;
for (const c of same.changes.filter((x) => x.file.endsWith("deploy-app.cjs"))) console.log(`  v1 → v1b ${fmt(c)}`);
// The decision needs |z| above the Bonferroni-corrected level for the functions compared (alpha 0.01), and at least +10 %.
const render = same.changes.find((c) => c.name === "renderInvoice");
const se = Math.log(render.ciHigh / render.ciLow) / (2 * 1.959964);
const zDecide = quantile(1 - 0.01 / (2 * same.compared));
const mde = Math.max(1.1, Math.exp(zDecide * se));
console.log(
  `noise on renderInvoice with ${same.windowsA} vs ${same.windowsB} windows: SE ${se.toFixed(3)} (log); decision level z ${zDecide.toFixed(2)} (${same.compared} functions): ` +
    `smallest change detected half the time: +${((mde - 1) * 100).toFixed(0)} %`,
);

const v2 = await runUntilDetected("v2", 1.3, capMs);
console.log(`v2 (renderInvoice +30 %): ${v2.seconds === null ? `not detected within ${values.minutes} min` : `regression after ${v2.seconds.toFixed(0)} s`}`);
const v2Incident = regressionOf("v2");
if (v2Incident) console.log(`  ${v2Incident.summary}\n  culprits: ${JSON.parse(v2Incident.culprits).map((c) => c.name).join(", ")}`);

let factor = 1.3;
let previous = "v2";
for (const [i, step] of values.small.split(",").filter(Boolean).map(Number).entries()) {
  factor *= step;
  const label = `v${3 + i}`;
  const result = await runUntilDetected(label, factor, capMs);
  const incident = regressionOf(label);
  console.log(
    `${label} (renderInvoice +${((step - 1) * 100).toFixed(0)} % over ${previous}): ` +
      (result.seconds === null ? `not detected within ${values.minutes} min` : `regression after ${result.seconds.toFixed(0)} s: ${incident?.summary}`),
  );
  if (result.seconds === null) {
    const d = await diff(previous, label);
    const c = d.changes.find((x) => x.name === "renderInvoice");
    if (c) console.log(`  diff ${previous} → ${label} at the end: ${fmt(c)}`);
  }
  previous = label;
}
