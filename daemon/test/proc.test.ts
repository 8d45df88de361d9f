import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { redactArgv, resolveIdentity } from "../src/target/identity.js";
import { decodeProcAddress, parseProcNetTcp } from "../src/target/listening-sockets.js";
import { CpuMeter } from "../src/target/cpu-meter.js";
import type { ProcStat } from "../src/target/proc.js";
import { catchesSignal, parseProcStat, processExists, parseProcStatus } from "../src/target/proc.js";

describe("CPU meter", () => {
  it("gives cores per reading, and over a span that is not a reading's interval", () => {
    let atMs = 0;
    let cpuMs = 0;
    const meter = new CpuMeter(1, () => atMs, () => ({ utimeMs: cpuMs, stimeMs: 0, rssPages: 1 }) as ProcStat);
    expect(meter.read()?.cpu).toBeUndefined();
    expect(meter.coresOver(1_000)).toBeUndefined();
    // Busy for 1 s, then 3 s of waiting read every 500 ms, then 300 ms of catch-up at one core.
    atMs = 1_000;
    cpuMs = 1_000;
    expect(meter.read()?.cpu).toBe(1);
    for (let i = 0; i < 6; i++) {
      atMs += 500;
      meter.read();
    }
    atMs += 300;
    cpuMs += 300;
    expect(meter.read()?.cpu).toBe(1); // this reading's interval is all catch-up
    // Over the 3.3 s since the wait began: the catch-up spread over it, not a busy loop.
    expect(meter.coresOver(3_300)).toBeCloseTo(300 / 3_300, 5);
    // Longer than what is kept: from the oldest reading.
    expect(meter.coresOver(60_000)).toBeCloseTo(1_300 / 4_300, 5);
  });
});

describe("/proc parsers", () => {
  it("reads stat even when the command name holds spaces and parentheses", () => {
    const stat = parseProcStat(
      "4242 (node (my app)) S 1 4242 4242 0 -1 4194560 1 0 0 0 250 30 0 0 20 0 11 0 123456 1000000 2500 18446744073709551615",
    );
    expect(stat).toMatchObject({
      comm: "node (my app)",
      state: "S",
      ppid: 1,
      utimeMs: 2_500,
      stimeMs: 300,
      startTicks: 123_456,
      rssPages: 2_500,
    });
  });

  it("reads caught signals and namespace pids from status", () => {
    const status = parseProcStatus("Name:\tnode\nUid:\t1000\t1000\t1000\t1000\nNSpid:\t4242\t7\nSigCgt:\t0000000000004a02\n");
    expect(status.nsPids).toEqual([4242, 7]);
    expect(status.uid).toBe(1000);
    expect(catchesSignal(status, 10)).toBe(true); // SIGUSR1: bit 9 of 0x4a02
    expect(catchesSignal(status, 15)).toBe(true); // SIGTERM: bit 14
    expect(catchesSignal(status, 13)).toBe(false); // bit 12 is clear
    expect(catchesSignal(parseProcStatus("SigCgt:\t0000000000000000\n"), 10)).toBe(false);
  });

  it("decodes /proc/net/tcp and tcp6 addresses", () => {
    expect(decodeProcAddress("0100007F")).toBe("127.0.0.1");
    expect(decodeProcAddress("00000000000000000000000001000000")).toBe("::1");
    expect(decodeProcAddress("0000000000000000FFFF00000100007F")).toBe("127.0.0.1");
    expect(decodeProcAddress("00000000000000000000000000000000")).toBe("::");
  });

  it("keeps only listening sockets", () => {
    const text = [
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
      "   0: 0100007F:2405 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0000000000000000 100 0 0 10 0",
      "   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 222 1 0000000000000000 100 0 0 10 0",
      "   2: 0100007F:2405 0100007F:D2A4 01 00000000:00000000 00:00000000 00000000     0        0 333 1 0000000000000000 100 0 0 10 0",
    ].join("\n");
    expect(parseProcNetTcp(text)).toEqual([
      { address: "127.0.0.1", port: 9221, inode: "111", loopback: true },
      { address: "0.0.0.0", port: 8080, inode: "222", loopback: false },
    ]);
  });
});

describe("identity", () => {
  const facts = { pid: 1, nodeVersion: "v20", v8Version: "11", argv: ["/usr/bin/node", "src/server.js"], execArgv: [], cwd: "/app" };
  const files: Record<string, string> = { "/app/package.json": JSON.stringify({ name: "shop-api" }) };
  const readTargetFile = (path: string) => files[path];

  it("prefers the flag, then the target's variables, then package.json, then the script name", () => {
    expect(resolveIdentity({ flagService: "cli", env: new Map([["SEISMO_SERVICE", "env"]]), facts, readTargetFile }).service).toBe("cli");
    expect(resolveIdentity({ env: new Map([["OTEL_SERVICE_NAME", "otel"]]), facts, readTargetFile }).service).toBe("otel");
    expect(resolveIdentity({ env: new Map(), facts, readTargetFile }).service).toBe("shop-api");
    expect(resolveIdentity({ env: new Map(), facts }).service).toBe("server");
    expect(resolveIdentity({ env: new Map([["GIT_SHA", "abc123"]]), facts }).deployment).toBe("abc123");
    expect(resolveIdentity({ flagDeployment: "v2", env: new Map([["GIT_SHA", "abc123"]]), facts }).deployment).toBe("v2");
  });

  it("redacts secret-looking flag values before argv leaves the daemon", () => {
    expect(redactArgv(["node", "app.js", "--api-key=abc", "--token", "xyz", "--port=80", "--password"])).toEqual([
      "node",
      "app.js",
      "--api-key=[redacted]",
      "--token",
      "[redacted]",
      "--port=80",
      "--password",
    ]);
  });

  it("redacts secret-looking values wherever they stand", () => {
    const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
    expect(
      redactArgv([
        "node",
        "worker.js",
        "postgres://app:hunter2@db:5432/shop",
        "--db=mysql://root:pw@127.0.0.1/x",
        jwt,
        "DB_PASSWORD=hunter2",
        "sk_live_51H8dKjL2eZvKYlo2C0123456789abcdef",
        "https://example.com/plain/path",
        "--workers=4",
      ]),
    ).toEqual([
      "node",
      "worker.js",
      "postgres://[redacted]@db:5432/shop",
      "--db=mysql://[redacted]@127.0.0.1/x",
      "[redacted]",
      "DB_PASSWORD=[redacted]",
      "[redacted]",
      "https://example.com/plain/path",
      "--workers=4",
    ]);
    // Ordinary long words without digits (paths, names) are left alone.
    expect(redactArgv(["/srv/applications/production-checkout-service/server.js"])).toEqual([
      "/srv/applications/production-checkout-service/server.js",
    ]);
  });
});

describe("processExists", () => {
  it("sees this process, not a free pid, and not a zombie", () => {
    expect(processExists(process.pid)).toBe(true);
    expect(processExists(4_194_301)).toBe(false);
    // Nothing reaps the child while this synchronous loop runs, so once it exits it is a zombie.
    const pid = spawn("sh", ["-c", "exit 0"], { stdio: "ignore" }).pid as number;
    const deadline = Date.now() + 2_000;
    while (Date.now() < deadline && !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"))) {
      // wait for the exit
    }
    expect(readFileSync(`/proc/${pid}/stat`, "utf8")).toMatch(/\) Z /);
    expect(processExists(pid)).toBe(false);
  });
});
