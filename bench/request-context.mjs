#!/usr/bin/env node
// What following each request through its async work costs the app (issue 18, request forensics:
// the database and outgoing-call hooks must know which request a query belongs to). The way
// Seismo would do it from outside: a subscriber of Node's `http.server.request.start` channel
// enters an AsyncLocalStorage store for the request, and each query's hook reads it.
//
// One target process per Node line serves a request shaped like a service's (three awaits, a
// timer turn, a query-like hook lookup per await, a JSON body); a closed loop of 8 keep-alive
// connections from this process; arms alternate in the same process (off, on, off, on, ...) so
// drift cancels, and the figure is the app's CPU per request (process.cpuUsage in the target
// over the requests it served in the round).
//
// Run: node bench/request-context.mjs [--rounds 12] [--seconds 4] [--nodes 20,22,24]
import { spawn } from "node:child_process";
import { Agent } from "node:http";
import { parseArgs } from "node:util";
import { closedLoop, formatDifference, mean, nodeFor, pairedDifference, send } from "./lib/paired-rounds.mjs";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "12" },
    seconds: { type: "string", default: "4" },
    nodes: { type: "string", default: "20,22,24" },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);

// The target: plain node:http, an async handler, a control route to switch the context on and off.
const TARGET = `
const http = require("node:http");
const dc = require("node:diagnostics_channel");
const { AsyncLocalStorage } = require("node:async_hooks");
const als = new AsyncLocalStorage();
let served = 0;
const onStart = ({ request }) => als.enterWith({ request, queries: [] });
// What a query hook does: find the request it runs for, and note the query there.
const hook = (statement) => { const context = als.getStore(); if (context && context.queries.length < 20) context.queries.push(statement); };
const query = async (statement) => { hook(statement); await new Promise((resolve) => setImmediate(resolve)); return [{ id: 1 }]; };
let on = false;
http.createServer(async (req, res) => {
  if (req.url.startsWith("/control")) {
    const want = req.url.endsWith("on");
    if (want && !on) dc.subscribe("http.server.request.start", onStart);
    if (!want && on) { dc.unsubscribe("http.server.request.start", onStart); als.disable(); }
    on = want;
    const cpu = process.cpuUsage();
    res.end(JSON.stringify({ served, cpuUs: cpu.user + cpu.system }));
    return;
  }
  const user = await query("SELECT * FROM users WHERE id = $1");
  const orders = await query("SELECT * FROM orders WHERE user_id = $1");
  await Promise.resolve();
  const body = JSON.stringify({ user, orders, items: Array.from({ length: 20 }, (_, i) => ({ i, name: "item " + i })) });
  res.setHeader("content-type", "application/json");
  res.end(body);
  served++;
}).listen(0, "127.0.0.1", function () { process.stdout.write("listening " + this.address().port + "\\n"); });
`;

const get = (agent, port, path) => send(agent, port, path);

async function measure(major) {
  const child = spawn(nodeFor(major), ["-e", TARGET], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise((resolve) => {
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const match = /listening (\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  try {
    await closedLoop(agent, port, 2_000); // warm-up: the handler optimized before anything counts
    const perRequest = { off: [], on: [], perSecond: [] };
    for (let round = 0; round < rounds * 2; round++) {
      const arm = round % 2 === 0 ? "off" : "on";
      const before = JSON.parse(await get(agent, port, `/control/${arm}`));
      await closedLoop(agent, port, seconds * 1_000);
      const after = JSON.parse(await get(agent, port, `/control/${arm}`));
      perRequest[arm].push((after.cpuUs - before.cpuUs) / (after.served - before.served));
      perRequest.perSecond.push((after.served - before.served) / seconds);
    }
    return perRequest;
  } finally {
    agent.destroy();
    child.kill();
  }
}

console.log(`| Node | requests/s | CPU per request, off (µs) | on (µs) | on − off, mean of ${rounds} paired rounds (95 % CI) |`);
console.log("|---|---|---|---|---|");
for (const major of values.nodes.split(",")) {
  const { off, on, perSecond } = await measure(major);
  const difference = pairedDifference(on, off);
  console.log(`| ${major} | ${Math.round(mean(perSecond))} | ${mean(off).toFixed(1)} | ${mean(on).toFixed(1)} | ${formatDifference(difference)}, ${((100 * difference.mean) / mean(off)).toFixed(1)} % |`);
}
