#!/usr/bin/env node
// How CPU contention skews per-function figures, and what leaving out the time
// the thread was descheduled recovers.
//
// test/fixtures/deploy-app.cjs runs three functions per request: parseOrder and
// computeTax do the same work (computeTax runs last), renderInvoice 1.5 times
// as much. Each round profiles the app with V8's own --cpu-prof (2 ms interval)
// for --seconds under Poisson load at --rate requests/s, on a quiet machine and
// then with one busy loop per core, and folds the profile with the daemon's
// aggregateProfile twice: with wall-clock durations (V8's tools) and with
// running time (samplingIntervalUs given: gaps left out). An unbiased figure
// keeps computeTax/parseOrder at 1.00 whatever the load.
//
// Run: node bench/contention.mjs [--rounds 3] [--seconds 30] [--rate 100]
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { Agent, get } from "node:http";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { aggregateProfile } from "@seismo/daemon";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "3" }, seconds: { type: "string", default: "30" }, rate: { type: "string", default: "100" } } });
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const rate = Number(values.rate);
const INTERVAL_US = 2000;
const app = join(import.meta.dirname, "..", "test", "fixtures", "deploy-app.cjs");

async function profileOnce(busy) {
  const dir = mkdtempSync(join(tmpdir(), "seismo-contention-"));
  const hogs = busy ? Array.from({ length: availableParallelism() }, () => spawn(process.execPath, ["-e", "for(;;){}"])) : [];
  const child = spawn(process.execPath, ["--cpu-prof", "--cpu-prof-interval", String(INTERVAL_US), "--cpu-prof-dir", dir, app], {
    env: { ...process.env, UNITS: "8", NODE_OPTIONS: "" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise((resolve) => child.stdout.on("data", (d) => { const m = /listening (\d+)/.exec(String(d)); if (m) resolve(Number(m[1])); }));
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  let timer;
  const fire = () => {
    get({ host: "127.0.0.1", port, path: "/", agent }, (res) => res.resume()).on("error", () => undefined);
    timer = setTimeout(fire, (-Math.log(1 - Math.random()) * 1000) / rate);
  };
  fire();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  clearTimeout(timer);
  agent.destroy();
  for (const hog of hogs) hog.kill();
  child.kill("SIGTERM");
  await new Promise((resolve) => child.on("exit", resolve));
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  const profile = JSON.parse(readFileSync(join(dir, file), "utf8"));
  rmSync(dir, { recursive: true, force: true });
  const ratios = (aggregated) => {
    const self = (name) => aggregated.functions.find((f) => f.name === name)?.selfUs ?? Number.NaN;
    return { taxOverParse: self("computeTax") / self("parseOrder"), invoiceOverParse: self("renderInvoice") / self("parseOrder") };
  };
  const running = aggregateProfile(profile, { samplingIntervalUs: INTERVAL_US });
  return { wall: ratios(aggregateProfile(profile)), running: ratios(running), descheduledShare: running.descheduledUs / (running.cpuUs + running.idleUs + running.descheduledUs) };
}

const f = (x) => x.toFixed(2);
console.log(`${rounds} round(s) of ${seconds} s at ${rate} req/s, 2 ms sampling; computeTax/parseOrder should read 1.00`);
console.log("load    round  wall: tax/parse invoice/parse   running: tax/parse invoice/parse   descheduled");
for (let round = 1; round <= rounds; round++) {
  for (const busy of [false, true]) {
    const r = await profileOnce(busy);
    console.log(`${busy ? "busy " : "quiet"}   ${round}      ${f(r.wall.taxOverParse).padStart(9)} ${f(r.wall.invoiceOverParse).padStart(13)}   ${f(r.running.taxOverParse).padStart(17)} ${f(r.running.invoiceOverParse).padStart(13)}   ${(100 * r.descheduledShare).toFixed(1).padStart(10)} %`);
  }
}
