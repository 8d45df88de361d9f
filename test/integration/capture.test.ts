import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import type { CapturedValue, Snapshot, TargetRef } from "@seismo/agent-proto";
import { EventStore, liveTargetsRunning, openDatabase, openDatabaseReadOnly } from "@seismo/analyzer";
import type { InspectorSession } from "@seismo/daemon";
import { CALLS_EXPRESSION, CAPTURE_ABANDONED_AFTER_MS, Captures, connectInspector, silentLogger, targetFileReader } from "@seismo/daemon";
import { afterEach, describe, expect, it } from "vitest";
import { inContext, SECRET_CORPUS } from "../../daemon/test/secret-corpus.js";
import type { Proc } from "./harness.js";
import { eventually } from "../eventually.js";
import { cleanup, FIXTURES, httpGet, seismo, seismoRun, sleep, startFixture, startLoad, tempDir, track } from "./harness.js";

afterEach(cleanup);

const APP = join(FIXTURES, "capture-app.cjs");

async function startApp(env: Record<string, string> = {}): Promise<{ app: Proc & { port: number }; url: string }> {
  const app = await startFixture("capture-app.cjs", { env: { NODE_OPTIONS: "--inspect=127.0.0.1:0", ...env } });
  const url = (await app.waitFor(/(ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/))[1] as string;
  return { app, url };
}

function capturesFor(app: Proc, url: string, snapshots: Snapshot[]): Captures {
  const target: TargetRef = { targetId: `test:${app.pid}:1`, daemonId: "test", service: "capture-app", deployment: "v1", pid: app.pid, host: "localhost", pod: "", namespace: "" };
  return new Captures({ connect: () => connectInspector(url), readFile: targetFileReader(app.pid), target: () => target, publish: (s) => snapshots.push(s), log: silentLogger });
}

const until = <T>(what: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000): Promise<T> => eventually(what, { timeoutMs });

const field = (value: CapturedValue | null | undefined, name: string): CapturedValue | undefined => value?.children.find((c) => c.name === name);
const local = (s: Snapshot, name: string): CapturedValue | undefined => s.locals.find((l) => l.name === name);

async function evaluate(session: InspectorSession, expression: string): Promise<unknown> {
  return (await session.send<{ result: { value: unknown } }>("Runtime.evaluate", { expression, returnByValue: true })).result.value;
}

describe("forensic capture on a real target, without pausing it", () => {
  it("captures a function's arguments, locals and closure values exactly, marks cuts, and disarms after its hits", async () => {
    const { app, url } = await startApp();
    const snapshots: Snapshot[] = [];
    const captures = capturesFor(app, url, snapshots);
    const probe = await captures.arm({ trigger: "manual", file: APP, functionName: "priceOrder", hits: 2, minIntervalMs: 0 });
    expect(probe).toMatchObject({ resolved: true, site: { functionName: "priceOrder", names: ["order", "customer", "lines", "subtotal", "note", "history", "total", "TAX_RATE", "ordersPriced", "catalog"] } });
    for (const id of [3, 4, 5]) expect(JSON.parse(await httpGet(app.port, `/order?id=${id}`))).toMatchObject({ lines: 2 });
    await until(() => (captures.armed().length === 0 ? true : undefined));
    expect(snapshots.map((s) => [s.hit, s.last])).toEqual([
      [1, false],
      [2, true],
    ]);
    const [s] = snapshots as [Snapshot];
    expect(s).toMatchObject({ trigger: "manual", functionName: "priceOrder", file: APP });
    expect(s.stack[0]).toMatch(/^priceOrder \(.*capture-app\.cjs:\d+:\d+\)$/);
    const order = local(s, "order");
    expect(field(order, "id")).toMatchObject({ type: "number", value: "3" });
    expect(field(field(field(order, "items"), "1"), "qty")).toMatchObject({ type: "number", value: "3" });
    expect(field(local(s, "customer"), "tier")).toMatchObject({ type: "string", value: "gold" });
    // At the first statement, later locals are not assigned yet (V8's debugger reads a const before
    // its declaration as undefined), closure values are.
    expect(local(s, "subtotal")).toMatchObject({ type: "undefined" });
    expect(local(s, "TAX_RATE")).toMatchObject({ type: "number", value: "0.2" });
    expect(local(s, "ordersPriced")).toMatchObject({ type: "number", value: "0" });
    expect(field(field(local(s, "catalog"), "sku-2"), "price")).toMatchObject({ value: "1999" });
    expect(snapshots[1] && local(snapshots[1], "ordersPriced")).toMatchObject({ value: "1" });
    expect(s.captureCostUs).toBeGreaterThan(0);

    // A line further down sees the locals, with the cuts marked: a 300-character string, 150 items.
    const later = await captures.arm({ trigger: "manual", file: APP, line: 23, hits: 1 });
    expect(later.site.functionName).toBe("priceOrder");
    await httpGet(app.port, "/order?id=9");
    const t = await until(() => snapshots.find((x) => x.probeId === later.probeId));
    expect(local(t, "subtotal")).toMatchObject({ type: "number", value: String(2 * 250 + 9 * 1999) });
    expect(local(t, "note")).toMatchObject({ type: "string", truncated: "length", omitted: 45 });
    expect(local(t, "note")?.value).toHaveLength(255);
    expect(local(t, "history")).toMatchObject({ type: "Array", truncated: "items", omitted: 50 });
    expect(local(t, "history")?.children).toHaveLength(100);
    await captures.close();
  });

  it(`leaves none of ${SECRET_CORPUS.length} secret shapes in the database files: names, strings, keys, long strings, Buffers, header lists, the command line`, async () => {
    const placed = SECRET_CORPUS.map((s) => ({ by: s.by, name: s.name, secret: s.secret, text: inContext(s) }));
    const argv = SECRET_CORPUS.filter((s) => s.by === "argv").flatMap((s) => [s.name, inContext(s)]);
    const env = { ...process.env, NODE_OPTIONS: "--inspect=127.0.0.1:0", SECRETS_JSON: JSON.stringify(placed), FIXTURE_PASSWORD: "Loc4l-passw0rd", FIXTURE_TOKEN: "loc4l-t0ken" };
    const app = track(spawn(process.execPath, [APP, ...argv], { env, stdio: ["ignore", "pipe", "pipe"] }));
    const url = (await app.waitFor(/(ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/))[1] as string;
    const port = Number((await app.waitFor(/listening (\d+)/))[1]);
    const db = join(tempDir(), "secrets.db");
    // The command line is stored with the target (hello).
    const attach = seismo(["attach", String(app.pid), "--db", db, "--window", "1s"]);
    await attach.waitFor(/window 1:/, 20_000);
    attach.child.kill("SIGINT");
    expect((await attach.exited).code, attach.stderr()).toBe(0);

    // A capture of every local at the vault's return, stored as `seismo capture` stores it; limits wide
    // enough that every placement is serialized (a value cut for size is not a leak, and proves nothing).
    const store = openDatabase(db);
    const snapshots: Snapshot[] = [];
    const captures = capturesFor({ ...app, pid: app.pid }, url, snapshots);
    const line = readFileSync(APP, "utf8").split("\n").findIndex((l) => l.includes("// vault: return")) + 1;
    const probe = await captures.arm({ trigger: "manual", file: APP, line, hits: 1, limits: { maxDepth: 4, maxFields: 100, maxItems: 200, maxString: 255, maxBytes: 500_000, maxFrames: 10, timeBudgetMs: 200 } });
    expect(probe.site.functionName).toBe("openVault");
    await httpGet(port, "/vault");
    const s = await until(() => snapshots[0]);
    new EventStore(store).recordSnapshot(s, Date.now());
    await captures.close();
    store.close();

    const files = [db, `${db}-wal`, `${db}-shm`].filter((f) => existsSync(f)).map((f) => readFileSync(f));
    for (const secret of [...SECRET_CORPUS.map((x) => x.secret), "Loc4l-passw0rd", "loc4l-t0ken"]) {
      for (const bytes of files) expect(bytes.includes(Buffer.from(secret)), secret).toBe(false);
    }
    // And they were there to be found: each placement is a redacted node, not a missing one.
    const named = local(s, "named");
    for (const shape of SECRET_CORPUS.filter((x) => x.by === "name")) expect(field(named, shape.name), shape.shape).toMatchObject({ value: "[redacted]", truncated: "redacted" });
    const misc = local(s, "misc");
    expect(misc?.children.length).toBe(SECRET_CORPUS.filter((x) => x.by === "value").length);
    for (const item of misc?.children ?? []) expect(item.value).toContain("[redacted]");
    const keys = SECRET_CORPUS.filter((x) => x.by === "key").length;
    for (const holder of ["keyed", "keyedObject"]) expect(local(s, holder)?.children.map((c) => c.name), holder).toEqual(Array.from({ length: keys }, () => "[redacted]"));
    for (const item of local(s, "longs")?.children ?? []) expect(item).toMatchObject({ truncated: "length", value: expect.stringMatching(/^l{240} .*\[redacted\]/) });
    expect(local(s, "longs")?.children).toHaveLength(SECRET_CORPUS.filter((x) => x.by === "long").length);
    for (const item of local(s, "buffers")?.children ?? []) expect(item.value, item.type).toContain("[redacted]");
    expect(local(s, "buffers")?.children.map((c) => c.type)).toEqual(["Buffer", "Buffer", "Uint8Array"]);
    expect(local(s, "rawHeaders")?.children.map((c) => c.value)).toEqual(["Host", "shop.internal", ...SECRET_CORPUS.filter((x) => x.by === "header").flatMap((x) => [x.name, "[redacted]"])]);
    expect(local(s, "password")).toMatchObject({ value: "[redacted]" });
    expect(local(s, "message")?.value).toMatch(/^user logged in with before \[redacted\] after$/);
    const reader = openDatabaseReadOnly(db);
    const stored = (reader.prepare("SELECT argv FROM targets").get() as { argv: string }).argv;
    reader.close();
    expect(stored).toContain("--smtp-pass");
    expect(stored).toContain("[redacted]");
  });

  it("keeps another debugger's pause: Seismo never resumes a pause it did not cause", async () => {
    const { app, url } = await startApp();
    const snapshots: Snapshot[] = [];
    const captures = capturesFor(app, url, snapshots);
    await captures.arm({ trigger: "manual", file: APP, functionName: "priceOrder", hits: 3, minIntervalMs: 0 });
    // A second debugger client with its own breakpoint in health().
    const client = await connectInspector(url);
    const events: string[] = [];
    client.on("Debugger.paused", () => events.push("paused"));
    client.on("Debugger.resumed", () => events.push("resumed"));
    await client.send("Debugger.enable", {});
    // On `const status = "ok";` in health() (0-based, as the protocol counts).
    const lineNumber = readFileSync(APP, "utf8").split("\n").findIndex((l) => l.includes('const status = "ok";'));
    const { breakpointId } = await client.send<{ breakpointId: string }>("Debugger.setBreakpointByUrl", { lineNumber, urlRegex: "capture-app\\.cjs$" });
    const healthCall = httpGet(app.port, "/health");
    await until(() => (events.includes("paused") ? true : undefined));
    await sleep(1_500);
    expect(events).toEqual(["paused"]); // still paused: nobody but the client may resume it
    await client.send("Debugger.resume");
    expect(JSON.parse(await healthCall)).toEqual({ status: "ok" });
    // Seismo's own probe keeps capturing alongside.
    await client.send("Debugger.removeBreakpoint", { breakpointId });
    await httpGet(app.port, "/order?id=2");
    await until(() => snapshots[0]);
    await client.close();
    await captures.close();
  });

  it("a daemon killed with SIGKILL while armed: the target keeps serving, never pauses, and removes the probe itself", async () => {
    const { app, url } = await startApp();
    // The daemon side in a child process of its own, so that it can be SIGKILLed.
    const daemonScript = `
      import { Captures, connectInspector, silentLogger, targetFileReader } from "@seismo/daemon";
      const captures = new Captures({ connect: () => connectInspector(${JSON.stringify(url)}), readFile: targetFileReader(${app.pid}),
        target: () => ({ targetId: "t", daemonId: "d", service: "s", deployment: "", pid: ${app.pid}, host: "", pod: "", namespace: "" }),
        publish: () => {}, log: silentLogger });
      await captures.arm({ trigger: "manual", file: ${JSON.stringify(APP)}, functionName: "priceOrder", hits: 1000, minIntervalMs: 0 });
      process.stdout.write("armed\\n");
      setInterval(() => {}, 1000);
    `;
    const { spawn } = await import("node:child_process");
    const { track, ROOT } = await import("./harness.js");
    const daemon = track(spawn(process.execPath, ["--input-type=module", "-e", daemonScript], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] }));
    await daemon.waitFor(/armed/);
    const observer = await connectInspector(url);
    try {
      const before = (await evaluate(observer, CALLS_EXPRESSION)) as number;
      await httpGet(app.port, "/order?id=1");
      expect((await evaluate(observer, CALLS_EXPRESSION)) as number).toBe(before + 1); // the breakpoint is there
      daemon.child.kill("SIGKILL");
      await daemon.exited;
      // The target keeps serving, never paused, while the orphaned probe waits for its watchdog.
      const killedAt = Date.now();
      for (let i = 0; i < 10; i++) {
        const started = Date.now();
        await httpGet(app.port, `/order?id=${i}`);
        expect(Date.now() - started).toBeLessThan(500);
      }
      // Nobody touches the capture code any more: within its abandon time, the target removes the probe.
      await until(async () => ((await evaluate(observer, 'globalThis[Symbol.for("seismo.capture.v3")].armed().length')) === 0 ? true : undefined), CAPTURE_ABANDONED_AFTER_MS + 3_000);
      expect(Date.now() - killedAt).toBeLessThan(CAPTURE_ABANDONED_AFTER_MS + 3_000);
      const afterRemoval = (await evaluate(observer, CALLS_EXPRESSION)) as number;
      for (let i = 0; i < 20; i++) await httpGet(app.port, `/order?id=${i}`);
      // No condition ran: no Seismo breakpoint is left.
      expect((await evaluate(observer, CALLS_EXPRESSION)) as number).toBe(afterRemoval);
    } finally {
      await observer.close();
    }
  });

  it("seismo capture by hand: opens the inspector, takes the hits, stores and prints them; a bad place says what to give", async () => {
    const app = await startFixture("capture-app.cjs");
    const db = join(tempDir(), "capture.db");
    const run = seismo(["capture", `priceOrder@${APP}`, "--pid", String(app.pid), "--hits", "2", "--ttl", "20s", "--db", db, "--json", "--redact", "orders_priced"]);
    await run.waitFor(/capture \S+ armed at .*capture-app\.cjs:\d+ \(priceOrder\) for 2 hit/, 15_000);
    for (let i = 0; i < 5; i++) await httpGet(app.port, `/order?id=${i + 1}`);
    const { code } = await run.exited;
    expect(code, run.stderr()).toBe(0);
    const printed = JSON.parse(run.stdout()) as Array<{ functionName: string; trigger: string; hit: number; locals: Array<{ name: string; value: string; truncated: string }> }>;
    expect(printed.map((s) => [s.functionName, s.trigger, s.hit])).toEqual([
      ["priceOrder", "manual", 1],
      ["priceOrder", "manual", 2],
    ]);
    expect(printed[0]?.locals.map((l) => l.name)).toContain("order");
    // --redact adds names to the built-in list, matched the same way (case, _ and - ignored).
    expect(printed[0]?.locals.find((l) => l.name === "ordersPriced")).toMatchObject({ value: "[redacted]", truncated: "redacted" });
    const stored = await seismoRun(["snapshots", "--db", db]);
    expect(stored.stdout).toMatch(/priceOrder at .*capture-app\.cjs:\d+, .* hit 1, .*armed by hand/);
    expect(stored.stdout).toMatch(/ {2}order: Object/);
    const bad = await seismoRun(["capture", "nowhere", "--pid", String(app.pid), "--db", db]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/No function "nowhere" in the database's profiles\. Give the file too: seismo capture nowhere@path\/to\/file\.js/);
  });

  it("seismo capture --hits 3 on a busy function stores 3, the hits that come before the arm call answers included, and says what it stored", async () => {
    const app = await startFixture("capture-app.cjs");
    const db = join(tempDir(), "busy.db");
    // Hundreds of calls a second: the first hits land while the arm call is still on its way back.
    const load = startLoad(app.port, 400, "/order?id=3");
    try {
      const run = seismo(["capture", `priceOrder@${APP}`, "--pid", String(app.pid), "--hits", "3", "--ttl", "20s", "--db", db, "--json"]);
      const { code } = await run.exited;
      expect(code, run.stderr()).toBe(0);
      const printed = JSON.parse(run.stdout()) as Array<{ hit: number }>;
      expect(printed.map((s) => s.hit)).toEqual([1, 2, 3]);
      expect(run.stderr()).toMatch(/disarmed: 3 of its 3 hit\(s\) captured/);
    } finally {
      await load.stop();
    }
  });

  it("seismo capture without --pid, beside seismo run: the one live process that ran the function; several are listed", async () => {
    const db = join(tempDir(), "beside-run.db");
    const runApp = () => seismo(["run", "--db", db, "--window", "1s", "--interval", "1", "--no-spikes", "--service", "orders", "--", process.execPath, APP], { NODE_OPTIONS: "" });
    const first = runApp();
    const second = runApp();
    const ports = await Promise.all([first, second].map(async (run) => Number((await run.waitFor(/^listening (\d+)/m, 20_000))[1])));
    await Promise.all([first, second].map((run) => run.waitFor(/attached to pid/, 20_000)));
    // Until both processes' profiles hold priceOrder: what `capture` goes by.
    const runningIt = (): number => {
      const reader = openDatabaseReadOnly(db);
      try {
        return liveTargetsRunning(reader, { functionName: "priceOrder", file: APP }, hostname()).length;
      } finally {
        reader.close();
      }
    };
    let id = 0;
    await until(async () => {
      for (const port of ports) for (let i = 0; i < 200; i++) await httpGet(port, `/order?id=${++id % 50}`);
      return existsSync(db) && runningIt() === 2 ? true : undefined;
    }, 60_000);

    const several = await seismoRun(["capture", "priceOrder", "--db", db, "--hits", "1", "--ttl", "5s"]);
    expect(several.code, several.stderr).toBe(2);
    expect(several.stderr).toMatch(/Several live processes ran priceOrder: pid \d+ \(orders\b[^)]*\), pid \d+ \(orders\b[^)]*\)\. Give --pid/);

    // One of them stops: its goodbye ends it in the database, and the other is the one.
    second.child.kill("SIGTERM");
    expect((await second.exited).code).toBe(0);
    const capture = seismo(["capture", "priceOrder", "--db", db, "--hits", "1", "--ttl", "20s", "--json"]);
    await capture.waitFor(/capture \S+ armed at .*capture-app\.cjs:\d+ \(priceOrder\) for 1 hit/, 15_000);
    await httpGet(ports[0] as number, "/order?id=7");
    const { code } = await capture.exited;
    expect(code, capture.stderr()).toBe(0);
    const [snapshot] = JSON.parse(capture.stdout()) as Array<{ functionName: string; trigger: string; locals: Array<{ name: string }> }>;
    expect(snapshot).toMatchObject({ functionName: "priceOrder", trigger: "manual" });
    first.child.kill("SIGTERM");
    await first.exited;
  });
});

interface ErrorSnapshotJson {
  trigger: string;
  hit: number;
  file: string;
  line: number;
  functionName: string;
  error: string;
  stack: string[];
  locals: CapturedValue[];
}

describe("uncaught exceptions, captured at their throw site", () => {
  it("reports the first occurrence at once, then captures the values of the execution that throws again, not of one that merely ran the line", async () => {
    const db = join(tempDir(), "errors.db");
    const run = seismo(["run", "--db", db, "--no-spikes", "--", process.execPath, join(FIXTURES, "error-app.cjs")], { NODE_OPTIONS: "" });
    const port = Number((await run.waitFor(/^listening (\d+)/m, 20_000))[1]);
    const inspectorUrl = (await run.waitFor(/(ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/, 20_000))[1] as string;
    await run.waitFor(/watching uncaught exceptions/, 20_000);

    await httpGet(port, "/?qty=500");
    await run.waitFor(/capture \S+ armed at .*error-app\.cjs:13 \(checkQuantity\) for 1 hit/, 10_000);
    // The throw site's line runs on every request; these do not throw, and must not be what is
    // captured. The breakpoint is on the `new RangeError`, not the line's `if`: they do not even trap.
    const observer = await connectInspector(inspectorUrl);
    const trapsBefore = await evaluate(observer, CALLS_EXPRESSION);
    // A trap counts while the request runs, so once the responses are in there is nothing left to wait for.
    for (let i = 0; i < 5; i++) await httpGet(port, "/?qty=3");
    expect(await evaluate(observer, CALLS_EXPRESSION)).toBe(trapsBefore);
    await observer.close();
    await httpGet(port, "/?qty=777");
    await run.waitFor(/capture \S+ disarmed: 1 of its 1 hit\(s\) captured/, 10_000);
    run.child.kill("SIGTERM");
    expect((await run.exited).code).toBe(0);

    const listed = await seismoRun(["snapshots", "--errors", "--db", db, "--json"]);
    expect(listed.code, listed.stderr).toBe(0);
    const [captured, first] = JSON.parse(listed.stdout) as ErrorSnapshotJson[];
    expect(first).toMatchObject({ hit: 0, line: 13, functionName: "checkQuantity", locals: [] });
    expect(first?.error).toMatch(/^RangeError: quantity 500 over 105 on attempt \d+ \(key \[redacted\]\)$/);
    expect(first?.stack[0]).toMatch(/^checkQuantity \(.*error-app\.cjs:13:\d+\)$/);
    expect(captured).toMatchObject({ trigger: first?.trigger, hit: 1, line: 13, functionName: "checkQuantity" });
    expect(captured?.trigger).toMatch(/^error:[0-9a-f]{12}$/);
    const attempt = /^RangeError: quantity 777 over 105 on attempt (\d+) \(key \[redacted\]\)$/.exec(captured?.error ?? "")?.[1];
    expect(attempt, captured?.error).toBeDefined();
    const value = (name: string): CapturedValue | undefined => captured?.locals.find((l) => l.name === name);
    expect(field(value("order") ?? null, "qty")).toMatchObject({ type: "number", value: "777" });
    expect(value("limit")).toMatchObject({ type: "number", value: "105" });
    // The same execution as the exception's: its attempt number, not a later request's.
    expect(value("attempt")).toMatchObject({ value: attempt });
    expect(value("apiKey")).toMatchObject({ value: "[redacted]", truncated: "redacted" });
    // The key is in no stored byte: not in the values, the message or the stack.
    expect(readFileSync(db).includes("sk_live_")).toBe(false);

    const shown = await seismoRun(["snapshots", "--errors", "--db", db]);
    expect(shown.stdout).toMatch(/first occurrence: no values/);
    expect(shown.stdout).toMatch(/the exception thrown again/);
  });

  it("an app that crashes on it: the first occurrence is stored before the process is gone", async () => {
    const db = join(tempDir(), "crash.db");
    const run = seismo(["run", "--db", db, "--no-spikes", "--", process.execPath, join(FIXTURES, "error-app.cjs")], { NODE_OPTIONS: "", CRASH: "1" });
    const port = Number((await run.waitFor(/listening (\d+)/, 20_000))[1]);
    await run.waitFor(/watching uncaught exceptions/, 20_000);
    await httpGet(port, "/?qty=500");
    await run.exited;
    const listed = await seismoRun(["snapshots", "--errors", "--db", db, "--json"]);
    const snapshots = JSON.parse(listed.stdout) as ErrorSnapshotJson[];
    expect(snapshots.map((s) => s.hit)).toEqual([0]);
    expect(snapshots[0]?.error).toMatch(/^RangeError: quantity 500 over 105 on attempt \d+ \(key \[redacted\]\)$/);
  });
});
