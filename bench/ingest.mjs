#!/usr/bin/env node
// Analyzer capacity: decode + store realistic profile windows into a real
// SQLite file through the same Ingestor the analyzer uses, then time `top`
// over the result. Run: node bench/ingest.mjs [--windows 5000] [--functions 300]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { encodeEvent } from "@seismo/agent-proto";
import { EventStore, Ingestor, openDatabase, topFunctions } from "@seismo/analyzer";

const { values } = parseArgs({ options: { windows: { type: "string", default: "5000" }, functions: { type: "string", default: "300" }, targets: { type: "string", default: "50" } } });
const windows = Number(values.windows);
const functionsPerWindow = Number(values.functions);
const targets = Number(values.targets);

// A pool of functions shared by all targets (same code), each window using a random subset.
const pool = Array.from({ length: functionsPerWindow * 3 }, (_, i) => ({
  name: `fn${i}`,
  scriptUrl: i % 4 === 0 ? `file:///app/node_modules/pkg${i % 40}/index.js` : `file:///app/src/module${i % 60}.js`,
  filePath: i % 4 === 0 ? `/app/node_modules/pkg${i % 40}/index.js` : `/app/src/module${i % 60}.js`,
  line: (i * 7) % 900 + 1,
  column: 1,
  packageName: i % 4 === 0 ? `pkg${i % 40}` : "",
  packageVersion: i % 4 === 0 ? "1.2.3" : "",
}));

function windowEvent(n) {
  const t = n % targets;
  const target = { targetId: `d:${t}:1`, daemonId: "d", service: `svc${t % 5}`, deployment: "v1", pid: 1000 + t, host: "h", pod: "", namespace: "" };
  const start = (n * 7) % pool.length;
  const functions = Array.from({ length: functionsPerWindow }, (_, i) => {
    const f = pool[(start + i) % pool.length];
    const self = Math.max(1, 1000 - i * 3);
    return { ...f, selfSamples: self, totalSamples: self * 2, selfUs: self * 10_000, totalUs: self * 20_000, hotLines: [{ line: f.line + 2, samples: self }] };
  });
  const endMs = Date.now() - (windows - n) * 100;
  return { kind: "profile", sentAtMs: endMs, body: { windowId: `d:${t}:1:${n}`, target, sequence: Math.floor(n / targets), startMs: endMs - 10_000, endMs, samplingIntervalUs: 10_000, totalSamples: 1000, cpuUs: 6_000_000, idleUs: 4_000_000, gcUs: 0, programUs: 0, functions, truncatedFunctions: 0 } };
}

const dir = mkdtempSync(join(tmpdir(), "seismo-ingest-"));
const db = openDatabase(join(dir, "bench.db"));
const ingestor = new Ingestor(new EventStore(db), { warn: (m) => console.error(m) });
const messages = Array.from({ length: windows }, (_, n) => {
  const event = windowEvent(n);
  return { subject: `seismo.v1.${event.body.target.service}.profile`, data: encodeEvent(event) };
});
const bytes = messages.reduce((s, m) => s + m.data.length, 0);

let acked = 0;
const t0 = performance.now();
for (const m of messages) ingestor.handle({ ...m, redelivered: false, ack: () => acked++, reject: () => {}, retry: () => {} });
const seconds = (performance.now() - t0) / 1000;

const redelivery0 = performance.now();
for (const m of messages.slice(0, 500)) ingestor.handle({ ...m, redelivered: true, ack: () => {}, reject: () => {}, retry: () => {} });
const redeliveryMs = (performance.now() - redelivery0) / 500;

const q0 = performance.now();
const top = topFunctions(db, { sinceMs: 0, limit: 20 });
const topAllMs = performance.now() - q0;
const q1 = performance.now();
topFunctions(db, { sinceMs: Date.now() - 5 * 60_000, service: "svc1", limit: 20 });
const top5mMs = performance.now() - q1;

console.log(`| measure | figure |`);
console.log(`|---|---|`);
console.log(`| windows ingested (${functionsPerWindow} functions each, ${targets} targets) | ${acked} |`);
console.log(`| mean message size | ${(bytes / windows / 1024).toFixed(1)} KiB |`);
console.log(`| ingest rate (decode + one SQLite transaction per window) | ${(windows / seconds).toFixed(0)} windows/s |`);
console.log(`| targets one analyzer can keep up with at 10 s windows | ~${Math.floor((windows / seconds) * 10)} |`);
console.log(`| redelivered duplicate, per message | ${redeliveryMs.toFixed(3)} ms |`);
console.log(`| top over all ${top.windows} windows | ${topAllMs.toFixed(0)} ms |`);
console.log(`| top --since 5m --service (one service) | ${top5mMs.toFixed(0)} ms |`);
db.close();
rmSync(dir, { recursive: true, force: true });
