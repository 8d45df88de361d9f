#!/usr/bin/env node
// What the database probe costs per query: in one process, a pg client and a mysql2 connection run
// the same parameterized query in a loop against the machine's PostgreSQL and MariaDB, in
// alternating rounds without and with the probe installed (ABBA order). Reported: this process's
// CPU per query and wall time per query, with and without. The probe's script runs in this
// process, as it would in an app.
// Run: node bench/db-probe.mjs [--rounds 6] [--queries 3000]
import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import { runInThisContext } from "node:vm";
import { DB_INSTRUMENT_READ, DB_INSTRUMENT_REMOVE, dbInstrumentInstall, DEFAULT_DB_INSTRUMENT_SETTINGS } from "../daemon/dist/index.js";

const require = createRequire(import.meta.url);
const pg = require("pg");
const mysql = require("mysql2/promise");
const { values } = parseArgs({ options: { rounds: { type: "string", default: "6" }, queries: { type: "string", default: "3000" } } });
const rounds = Number(values.rounds);
const n = Number(values.queries);

const client = new pg.Client({ host: "127.0.0.1", user: "postgres", database: "test" });
await client.connect();
const my = await mysql.createConnection({ host: "127.0.0.1", user: "root", database: "test" });
const drivers = {
  pg: (i) => client.query("SELECT $1::int + 1 AS n", [i]),
  mysql2: (i) => my.query("SELECT ? + 1 AS n", [i]),
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function measure(run) {
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await run(i);
  const wall = performance.now() - t0;
  const used = process.cpuUsage(cpu);
  return { cpuUs: (used.user + used.system) / n, wallUs: (wall * 1000) / n };
}

for (const run of Object.values(drivers)) await measure(run); // warm-up
const results = {};
for (const name of Object.keys(drivers)) results[name] = { without: [], with: [] };
for (let round = 1; round <= rounds; round++) {
  for (const mode of round % 2 ? ["without", "with"] : ["with", "without"]) {
    if (mode === "with") runInThisContext(dbInstrumentInstall(DEFAULT_DB_INSTRUMENT_SETTINGS));
    for (const [name, run] of Object.entries(drivers)) results[name][mode].push(await measure(run));
    if (mode === "with") {
      runInThisContext(DB_INSTRUMENT_READ);
      runInThisContext(DB_INSTRUMENT_REMOVE);
    }
  }
}
console.log(`${rounds} rounds x ${n} queries per driver and mode (ABBA)\n`);
console.log("| driver | CPU µs/query without | with | difference | wall µs/query without | with |");
console.log("|---|---|---|---|---|---|");
for (const [name, r] of Object.entries(results)) {
  const cw = median(r.without.map((x) => x.cpuUs));
  const cp = median(r.with.map((x) => x.cpuUs));
  console.log(`| ${name} | ${cw.toFixed(1)} | ${cp.toFixed(1)} | ${(cp - cw).toFixed(1)} | ${median(r.without.map((x) => x.wallUs)).toFixed(0)} | ${median(r.with.map((x) => x.wallUs)).toFixed(0)} |`);
}
await client.end();
await my.end();
