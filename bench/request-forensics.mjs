#!/usr/bin/env node
// What keeping failed and slow requests' stories costs the app (issue 18), measured on Seismo's own
// in-target code (daemon/dist: the expressions the daemon sends), evaluated by the target itself:
//
// 1. Per request, when nothing is kept: a closed loop of 8 keep-alive connections on an async
//    handler, three arms alternating in one process (off: no instrument; timing: the HTTP
//    instrument without forensics; forensics: the HTTP and database instruments with them, every
//    request's record entered into its async context). The figure is the app's CPU per request
//    (process.cpuUsage in the target over the requests it served in the round). With --pg the
//    handler runs two real pg queries (the machine's PostgreSQL), so each request also adds two
//    steps to its record: heavier requests, a coarser resolution.
// 2. The same without the network, which this machine's noise (±3 µs a request over HTTP)
//    drowns the effect in: one process per Node line publishes Node's own server channels
//    (http.server.request.start and response.finish) around the same handler, 8 requests at a
//    time, each started in a fresh callback as node:http starts it; arms off, timing, forensics,
//    and an AsyncLocalStorage entered from the start channel alone (what any request context costs
//    on that line); CPU per request over --synthetic requests a round.
// 3. The rate limit: a route that fails every time, called ~1,000 times a second for --storm
//    seconds, the instrument read every second as the daemon reads it every window: requests
//    kept, requests counted as not kept.
//
// --seconds 0 leaves the first out.
// Run: node bench/request-forensics.mjs [--rounds 12] [--seconds 4] [--nodes 20,22,24] [--pg] [--synthetic 40000] [--storm 30]
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { Agent } from "node:http";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { closedLoop, formatDifference, mean, nodeFor, pairedDifference, send } from "./lib/paired-rounds.mjs";

const root = join(import.meta.dirname, "..");
const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "12" },
    seconds: { type: "string", default: "4" },
    nodes: { type: "string", default: "20,22,24" },
    pg: { type: "boolean", default: false },
    storm: { type: "string", default: "30" },
    synthetic: { type: "string", default: "40000" },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const dist = (path) => join(root, "daemon", "dist", path);
if (!existsSync(dist("instruments/http-instrument.js"))) throw new Error("Build first: npx tsc -b");
const http = await import(dist("instruments/http-instrument.js"));
const db = await import(dist("instruments/db-instrument.js"));

const EXPRESSIONS = {
  installTiming: http.httpInstrumentInstall({ ...http.DEFAULT_HTTP_INSTRUMENT_SETTINGS, requests: undefined }),
  installForensics: http.httpInstrumentInstall(http.DEFAULT_HTTP_INSTRUMENT_SETTINGS),
  installDb: db.dbInstrumentInstall(db.DEFAULT_DB_INSTRUMENT_SETTINGS),
  read: http.HTTP_INSTRUMENT_READ,
  remove: `${http.HTTP_INSTRUMENT_REMOVE}; ${db.DB_INSTRUMENT_REMOVE}`,
};

// The target: plain node:http, an async handler shaped like a service's, a route that always fails,
// and a control route that evaluates what the daemon would send.
const TARGET = `
const http = require("node:http");
const vm = require("node:vm");
const PG = process.env.BENCH_PG === "1";
const pool = PG ? new (require(${JSON.stringify(join(root, "node_modules", "pg"))}).Pool)({ host: "127.0.0.1", user: "postgres", database: "test", max: 8 }) : undefined;
const query = PG ? (text, values) => pool.query(text, values) : async () => { await new Promise((resolve) => setImmediate(resolve)); return { rows: [{ id: 1 }] }; };
let served = 0;
http.createServer(async (req, res) => {
  if (req.url === "/control") {
    let body = "";
    for await (const chunk of req) body += chunk;
    let value = null;
    try { value = body ? vm.runInThisContext(body) : null; } catch (error) { value = String(error); }
    const cpu = process.cpuUsage();
    res.end(JSON.stringify({ served, cpuUs: cpu.user + cpu.system, value }));
    return;
  }
  if (req.url === "/broken") {
    res.statusCode = 500;
    res.end("{}");
    return;
  }
  const user = await query("SELECT $1::int AS id", [1]);
  const orders = await query("SELECT $1::int AS user_id, 2 AS items", [1]);
  await Promise.resolve();
  const body = JSON.stringify({ user: user.rows, orders: orders.rows, items: Array.from({ length: 20 }, (_, i) => ({ i, name: "item " + i })) });
  res.setHeader("content-type", "application/json");
  res.end(body);
  served++;
}).listen(0, "127.0.0.1", function () { process.stdout.write("listening " + this.address().port + "\\n"); });
`;

const control = async (agent, port, expression = "") => JSON.parse(await send(agent, port, "/control", expression));

// A bench stopped by hand takes its targets with it.
const children = new Set();
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => {
  for (const child of children) child.kill();
  process.exit(130);
});

async function start(major) {
  const child = spawn(nodeFor(major), ["-e", TARGET], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, BENCH_PG: values.pg ? "1" : "0" } });
  children.add(child);
  child.on("exit", () => children.delete(child));
  const port = await new Promise((resolve) => {
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const match = /listening (\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
  });
  return { child, port, agent: new Agent({ keepAlive: true, maxSockets: 8 }) };
}

const ARMS = {
  off: [EXPRESSIONS.remove],
  timing: [EXPRESSIONS.remove, EXPRESSIONS.installTiming, EXPRESSIONS.installDb],
  forensics: [EXPRESSIONS.remove, EXPRESSIONS.installForensics, EXPRESSIONS.installDb],
};

async function perRequest(major) {
  const { child, port, agent } = await start(major);
  try {
    for (const expression of ARMS.forensics) await control(agent, port, expression);
    await closedLoop(agent, port, 2_000); // warm-up: the handler and the instrument optimized before anything counts
    const cost = { off: [], timing: [], forensics: [], perSecond: [], kept: 0 };
    for (let round = 0; round < rounds * 3; round++) {
      const arm = ["off", "timing", "forensics"][round % 3];
      for (const expression of ARMS[arm]) await control(agent, port, expression);
      const before = await control(agent, port, EXPRESSIONS.read);
      await closedLoop(agent, port, seconds * 1_000);
      const after = await control(agent, port, EXPRESSIONS.read);
      if (Array.isArray(after.value)) cost.kept += after.value[3]?.kept?.length ?? 0;
      cost[arm].push((after.cpuUs - before.cpuUs) / (after.served - before.served));
      cost.perSecond.push((after.served - before.served) / seconds);
    }
    return cost;
  } finally {
    agent.destroy();
    child.kill();
  }
}

async function storm(major, stormSeconds) {
  const { child, port, agent } = await start(major);
  try {
    for (const expression of ARMS.forensics) await control(agent, port, expression);
    let kept = 0;
    let notKept = 0;
    let sent = 0;
    const reads = setInterval(async () => {
      const reading = (await control(agent, port, EXPRESSIONS.read)).value;
      kept += reading?.[3]?.kept?.length ?? 0;
      notKept += reading?.[3]?.limited ?? 0;
    }, 1_000);
    const until = Date.now() + stormSeconds * 1_000;
    // ~1,000 a second: 10 connections, each paced to one request per 10 ms.
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (Date.now() < until) {
          const t0 = Date.now();
          await send(agent, port, "/broken");
          sent++;
          const wait = 10 - (Date.now() - t0);
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        }
      }),
    );
    clearInterval(reads);
    const last = (await control(agent, port, EXPRESSIONS.read)).value;
    kept += last?.[3]?.kept?.length ?? 0;
    notKept += last?.[3]?.limited ?? 0;
    return { sent, kept, notKept, perSecond: sent / stormSeconds };
  } finally {
    agent.destroy();
    child.kill();
  }
}

// Section 2: the instrument driven through Node's own channels, in-process, no sockets.
const SYNTHETIC = `
const vm = require("node:vm");
const dc = require("node:diagnostics_channel");
const { AsyncLocalStorage } = require("node:async_hooks");
const E = JSON.parse(process.env.BENCH_EXPRESSIONS);
const start = dc.channel("http.server.request.start");
const finish = dc.channel("http.server.response.finish");
const query = async () => { await new Promise((resolve) => setImmediate(resolve)); return { rows: [{ id: 1 }] }; };
const one = () => new Promise((done) => setImmediate(async () => {
  const request = { method: "GET", url: "/api/orders/42?page=1", headers: {} };
  const response = { statusCode: 200 };
  start.publish({ request, response });
  const user = await query();
  const orders = await query();
  await Promise.resolve();
  JSON.stringify({ user: user.rows, orders: orders.rows, items: Array.from({ length: 20 }, (_, i) => ({ i, name: "item " + i })) });
  finish.publish({ request, response });
  done();
}));
const burst = (n) => Promise.all(Array.from({ length: 8 }, async () => { for (let i = 0; i < n / 8; i++) await one(); }));
let storage;
const enter = () => storage.enterWith({ t0: 0 });
const arms = {
  off: () => vm.runInThisContext(E.remove),
  timing: () => { vm.runInThisContext(E.remove); vm.runInThisContext(E.installTiming); vm.runInThisContext(E.installDb); },
  forensics: () => { vm.runInThisContext(E.remove); vm.runInThisContext(E.installForensics); vm.runInThisContext(E.installDb); },
  alsAlone: () => { vm.runInThisContext(E.remove); storage = new AsyncLocalStorage(); dc.subscribe("http.server.request.start", enter); },
};
const leave = () => { if (storage) { dc.unsubscribe("http.server.request.start", enter); storage.disable(); storage = undefined; } };
(async () => {
  const rounds = Number(process.env.BENCH_ROUNDS), per = Number(process.env.BENCH_REQUESTS);
  arms.forensics();
  await burst(per);
  const cost = { off: [], timing: [], forensics: [], alsAlone: [] };
  for (let r = 0; r < rounds * 4; r++) {
    const arm = ["off", "timing", "forensics", "alsAlone"][r % 4];
    leave();
    arms[arm]();
    vm.runInThisContext(E.read);
    const before = process.cpuUsage();
    await burst(per);
    const used = process.cpuUsage(before);
    cost[arm].push((used.user + used.system) / per);
    vm.runInThisContext(E.read);
  }
  process.stdout.write(JSON.stringify(cost));
})();
`;

async function synthetic(major, requests) {
  const child = spawn(nodeFor(major), ["-e", SYNTHETIC], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, BENCH_EXPRESSIONS: JSON.stringify(EXPRESSIONS), BENCH_ROUNDS: String(rounds), BENCH_REQUESTS: String(requests) },
  });
  children.add(child);
  let out = "";
  child.stdout.on("data", (chunk) => (out += chunk));
  await new Promise((resolve) => child.on("exit", resolve));
  children.delete(child);
  return JSON.parse(out);
}

const paired = (a, b) => formatDifference(pairedDifference(a, b));

if (seconds > 0) {
  console.log(`Per request, nothing kept (${values.pg ? "two pg queries" : "two simulated queries"} a request; ${rounds} rounds of ${seconds} s per arm, arms alternating):`);
  console.log("");
  console.log("| Node | requests/s | CPU per request, off (µs) | timing (µs) | forensics (µs) | forensics − timing (95 % CI) | timing − off (95 % CI) | kept |");
  console.log("|---|---|---|---|---|---|---|---|");
  for (const major of values.nodes.split(",")) {
    const { off, timing, forensics, perSecond, kept } = await perRequest(major);
    console.log(`| ${major} | ${Math.round(mean(perSecond))} | ${mean(off).toFixed(1)} | ${mean(timing).toFixed(1)} | ${mean(forensics).toFixed(1)} | ${paired(forensics, timing)} | ${paired(timing, off)} | ${kept} |`);
  }
}
const syntheticRequests = Number(values.synthetic);
if (syntheticRequests > 0) {
  console.log("");
  console.log(`Without the network: Node's server channels published in-process around the same handler (${syntheticRequests} requests a round, 8 at a time, ${rounds} rounds per arm):`);
  console.log("");
  console.log("| Node | CPU per request, off (µs) | timing (µs) | forensics (µs) | forensics − timing (95 % CI) | an AsyncLocalStorage alone − off (95 % CI) | timing − off (95 % CI) |");
  console.log("|---|---|---|---|---|---|---|");
  for (const major of values.nodes.split(",")) {
    const { off, timing, forensics, alsAlone } = await synthetic(major, syntheticRequests);
    console.log(`| ${major} | ${mean(off).toFixed(2)} | ${mean(timing).toFixed(2)} | ${mean(forensics).toFixed(2)} | ${paired(forensics, timing)} | ${paired(alsAlone, off)} | ${paired(timing, off)} |`);
  }
}
const stormSeconds = Number(values.storm);
if (stormSeconds > 0) {
  console.log("");
  console.log(`A route failing every time, ~1,000 requests a second for ${stormSeconds} s, read every second:`);
  console.log("");
  console.log("| Node | failing requests/s | sent | kept | not kept (counted) | kept per minute |");
  console.log("|---|---|---|---|---|---|");
  for (const major of values.nodes.split(",")) {
    const { sent, kept, notKept, perSecond } = await storm(major, stormSeconds);
    console.log(`| ${major} | ${Math.round(perSecond)} | ${sent} | ${kept} | ${notKept} | ${((kept * 60) / stormSeconds).toFixed(1)} |`);
  }
}
