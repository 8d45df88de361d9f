#!/usr/bin/env node
// What de-inlining and source mapping cost the daemon, per window, on an app of real size: a
// service bundled by esbuild with a source map (the TypeScript compiler inside: one ~9 MB script,
// ~10,000 functions) under steady HTTP load, sampled at the defaults (10 ms, 10 s windows) through
// the daemon's own Sampler. For every window the daemon's three steps are timed in this process,
// on the profile V8 gave: de-inlining (learning calls, parsing scripts the first time, moving
// ticks), aggregation, and source mapping. Reported: ms per window and % of one core.
// Run: node bench/attribution.mjs [--windows 6] [--rate 40]
import { spawn } from "node:child_process";
import { mkdtempSync, statSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { buildSync } from "esbuild";
import {
  aggregateProfile,
  connectInspector,
  InlineAttribution,
  Sampler,
  ScriptTables,
  SourceMaps,
  targetScriptFiles,
  toOriginalStats,
} from "../daemon/dist/index.js";

const root = join(import.meta.dirname, "..");
const { values } = parseArgs({ options: { windows: { type: "string", default: "6" }, rate: { type: "string", default: "40" } } });
const windows = Number(values.windows);
const windowMs = 10_000;

const out = mkdtempSync(join(tmpdir(), "seismo-bench-attribution-"));
const bundle = join(out, "compile-service.cjs");
buildSync({ entryPoints: [join(root, "bench/targets/compile-service.mjs")], bundle: true, platform: "node", format: "cjs", minifyIdentifiers: true, minifySyntax: true, sourcemap: true, outfile: bundle, logLevel: "silent" });
console.log(`target: ${bundle} (${(statSync(bundle).size / 1e6).toFixed(1)} MB, map ${(statSync(`${bundle}.map`).size / 1e6).toFixed(1)} MB)`);

const app = spawn(process.execPath, ["--inspect=127.0.0.1:0", bundle], { stdio: ["ignore", "pipe", "pipe"] });
let output = "";
const seen = (re) =>
  new Promise((resolve, reject) => {
    const check = () => {
      const m = output.match(re);
      if (m) resolve(m);
    };
    app.stdout.on("data", (d) => ((output += d), check()));
    app.stderr.on("data", (d) => ((output += d), check()));
    app.on("exit", () => reject(new Error(`the target exited: ${output}`)));
    check();
  });
const url = (await seen(/(ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/))[1];
const port = Number((await seen(/listening (\d+)/))[1]);

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
let answered = 0;
let loading = true;
const fire = () => {
  if (!loading) return;
  http.get({ host: "127.0.0.1", port, agent }, (res) => res.resume().on("end", () => answered++)).on("error", () => undefined);
  setTimeout(fire, (-Math.log(1 - Math.random()) * 1_000) / Number(values.rate));
};
fire();

const files = targetScriptFiles(app.pid);
const tables = new ScriptTables(files);
const maps = new SourceMaps(files, (url) => tables.tableOf(url));
const attribution = new InlineAttribution(tables);
const rows = [];
const session = await connectInspector(url);
let done;
const finished = new Promise((resolve) => (done = resolve));
const sampler = new Sampler(
  session,
  { intervalUs: 10_000, windowMs, recompile: true },
  (raw) => {
    const t0 = performance.now();
    const { profile, stats } = attribution.apply(raw.profile);
    const t1 = performance.now();
    const aggregated = aggregateProfile(profile, { samplingIntervalUs: 10_000 });
    const t2 = performance.now();
    const functions = toOriginalStats(aggregated.functions, maps);
    const t3 = performance.now();
    rows.push({ window: raw.sequence, nodes: raw.profile.nodes.length, functions: functions.length, mapped: functions.filter((f) => f.generatedFile).length, moved: stats.movedSamples, uncertain: stats.uncertainSamples, deinlineMs: t1 - t0, aggregateMs: t2 - t1, mapMs: t3 - t2 });
    if (rows.length >= windows) done();
  },
  (error) => console.error(error),
);
await sampler.start();
await finished;
loading = false;
await sampler.stop(false);
await session.close();
agent.destroy();
app.kill();

const table = tables.tableOf(`file://${bundle}`);
console.log(`bundle functions parsed: ${table?.functions.length ?? 0}; requests answered: ${answered}; maps loaded ${maps.counters.mapsLoaded} in ${maps.counters.loadMs.toFixed(0)} ms`);
console.log("window  nodes  functions  mapped  moved  uncertain  de-inline ms  aggregate ms  map ms  total ms  % of a core");
for (const r of rows) {
  const total = r.deinlineMs + r.aggregateMs + r.mapMs;
  console.log(
    [String(r.window).padStart(6), String(r.nodes).padStart(6), String(r.functions).padStart(10), String(r.mapped).padStart(7), String(r.moved).padStart(6), String(r.uncertain).padStart(10), r.deinlineMs.toFixed(1).padStart(13), r.aggregateMs.toFixed(1).padStart(13), r.mapMs.toFixed(1).padStart(7), total.toFixed(1).padStart(9), `${((100 * total) / windowMs).toFixed(2)} %`.padStart(12)].join(" "),
  );
}
const steady = rows.slice(1);
const mean = steady.reduce((sum, r) => sum + r.deinlineMs + r.aggregateMs + r.mapMs, 0) / Math.max(1, steady.length);
console.log(`steady state (windows after the first): ${mean.toFixed(1)} ms per ${windowMs / 1000} s window = ${((100 * mean) / windowMs).toFixed(2)} % of a core`);
const stats = attribution.stats();
console.log(`first window parsed ${stats.scriptsParsed} script(s), ${(stats.bytesParsed / 1e6).toFixed(1)} MB in ${stats.parseMs.toFixed(0)} ms`);
