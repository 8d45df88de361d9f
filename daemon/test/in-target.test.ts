import { once } from "node:events";
import { createServer, get } from "node:http";
import type { AddressInfo } from "node:net";
import { createContext, runInContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { DB_INSTRUMENT_READ, DB_INSTRUMENT_REMOVE, dbInstrumentInstall, DEFAULT_DB_INSTRUMENT_SETTINGS } from "../src/instruments/db-instrument.js";
import { DEFAULT_HTTP_INSTRUMENT_SETTINGS, HTTP_INSTRUMENT_READ, HTTP_INSTRUMENT_REMOVE, httpInstrumentInstall, parseHttpReading, parseInstrumentEntries } from "../src/instruments/http-instrument.js";
import { INSTALL_EXPRESSION, READ_EXPRESSION, REMOVE_EXPRESSION } from "../src/spike/loop-monitor.js";
import { TARGET_FACTS_EXPRESSION } from "../src/target/identity.js";
import { CALLS_EXPRESSION, drainExpression, installExpression, UNWATCH_ERRORS_EXPRESSION, watchErrorsExpression } from "../src/capture/capture-script.js";
import { routeHonoModule } from "../src/in-target/http-instrument.js";
import { IN_TARGET_KEYS } from "../src/in-target/keys.js";
import { holdInspector, inspectorCloser, releaseInspector } from "../src/in-target/inspector-lease.js";
import { inTargetCall, inTargetExpression } from "../src/in-target/script.js";
import { eventually } from "../../test/eventually.js";

/**
 * A bare context with only what a target gives every script Seismo sends: JavaScript's
 * built-ins, `process`, `performance` and the timers (and, for the capture code, the binding the
 * daemon adds). A script that used anything of the daemon's own modules
 * (an import, a constant of the file it is written in) fails here with a ReferenceError.
 */
function bareTarget(extra: Record<string, unknown> = {}) {
  const context = createContext({ process, setInterval, clearInterval, setTimeout, clearTimeout, setImmediate, performance, ...extra });
  return (expression: string): unknown => runInContext(expression, context);
}

describe("in-target code is self-contained", () => {
  it("a script that reaches for a binding of its module fails in the bare context (the check can fail)", () => {
    const leaky = inTargetExpression(() => IN_TARGET_KEYS.httpInstrument, null);
    // (A ReferenceError of the context's own realm.)
    expect(() => bareTarget()(leaky)).toThrow(/is not defined/);
  });

  it("the target describes itself with nothing from outside", () => {
    expect(JSON.parse(bareTarget()(TARGET_FACTS_EXPRESSION) as string)).toMatchObject({ pid: process.pid, nodeVersion: process.version, argv: process.argv });
  });

  it("the event-loop monitor installs, reads and removes itself with nothing from outside", () => {
    const target = bareTarget();
    expect(target(INSTALL_EXPRESSION)).toBe("installed");
    expect(target(INSTALL_EXPRESSION)).toBe("present");
    const reading = target(READ_EXPRESSION) as number[];
    expect(reading).toHaveLength(3);
    expect(reading.every((n) => typeof n === "number" && n >= 0)).toBe(true);
    expect(target(REMOVE_EXPRESSION)).toBe(true);
    expect(target(READ_EXPRESSION)).toBeNull();
  });

  it("handing the HTTP instrument a Hono context module needs nothing from outside, and a module that is not there is said so", () => {
    const target = bareTarget();
    const route = inTargetExpression(routeHonoModule, { key: IN_TARGET_KEYS.httpInstrument, file: "/nowhere/node_modules/hono/dist/context.js" });
    expect(target(route)).toBe("no HTTP instrument");
    expect(target(httpInstrumentInstall(DEFAULT_HTTP_INSTRUMENT_SETTINGS))).toBe("installed");
    try {
      expect(target(route)).toMatch(/^not loaded: Cannot find module '\/nowhere\/node_modules\/hono\/dist\/context\.js'/);
    } finally {
      target(HTTP_INSTRUMENT_REMOVE);
    }
  });

  it("the HTTP probe times a real request with nothing from outside, and its read passes the daemon's checks", async () => {
    const target = bareTarget();
    expect(target(httpInstrumentInstall(DEFAULT_HTTP_INSTRUMENT_SETTINGS))).toBe("installed");
    const server = createServer((_req, res) => res.end("ok")).listen(0, "127.0.0.1");
    await once(server, "listening");
    try {
      const port = (server.address() as AddressInfo).port;
      await new Promise<void>((resolve, reject) => get({ host: "127.0.0.1", port, path: "/orders/123?x=1" }, (res) => res.resume().on("end", resolve)).on("error", reject));
      const reading = parseHttpReading(target(HTTP_INSTRUMENT_READ));
      expect(reading?.endpoints).toMatchObject([{ method: "GET", route: "/orders/:id", status: 200, count: 1, host: "" }]);
      expect(reading?.outgoing).toMatchObject([{ method: "GET", route: "/orders/:id", status: 200, count: 1, host: `127.0.0.1:${port}` }]);
    } finally {
      expect(target(HTTP_INSTRUMENT_REMOVE)).toBe(true);
      server.close();
    }
  });

  it("the database probe installs, digests and removes itself with nothing from outside", () => {
    const target = bareTarget();
    expect(target(dbInstrumentInstall(DEFAULT_DB_INSTRUMENT_SETTINGS))).toBe("installed");
    const digest = target(`globalThis[Symbol.for(${JSON.stringify(IN_TARGET_KEYS.dbInstrument)})].digest("SELECT * FROM t WHERE id = 42 AND name = 'x' -- why")`);
    expect(digest).toBe("SELECT * FROM t WHERE id = ? AND name = ?");
    expect(parseInstrumentEntries(target(DB_INSTRUMENT_READ))).toEqual([]);
    expect(target(DB_INSTRUMENT_REMOVE)).toBe(true);
  });

  it("the capture code installs and reports an uncaught exception through its binding with nothing from outside", () => {
    const told: string[] = [];
    const inContext = bareTarget({ __seismoTest: (payload: string) => told.push(payload) });
    expect(inContext(installExpression())).toBe("installed");
    expect(inContext(installExpression())).toBe("present");
    expect(inContext(drainExpression("__seismoTest"))).toEqual({ armed: 0, messages: [], dropped: 0, droppedThrown: 0 });
    expect(inContext(CALLS_EXPRESSION)).toBe(0);
    inContext(watchErrorsExpression("__seismoTest"));
    inContext(`globalThis[Symbol.for(${JSON.stringify(IN_TARGET_KEYS.capture)})].thrown(new RangeError("qty 500 over 105"), "uncaughtException")`);
    expect(told.map((t) => JSON.parse(t) as { thrown: { name: string; message: string; origin: string } })).toMatchObject([{ thrown: { name: "RangeError", message: "qty 500 over 105", origin: "uncaughtException" } }]);
    expect(inContext(UNWATCH_ERRORS_EXPRESSION)).toBe(true);
    expect(inContext(UNWATCH_ERRORS_EXPRESSION)).toBe(false);
  });

  it("the inspector lease closes an inspector Seismo opened when its last holder leaves or stops renewing, and never one it found open", async () => {
    const closes: string[] = [];
    // The target's process, with its close counted rather than done (a bare context holds no inspector).
    const fakeProcess = { getBuiltinModule: (id: string) => (id === "node:inspector" ? { close: () => closes.push("closed") } : undefined) };
    const target = bareTarget({ process: fakeProcess });
    const key = "seismo.inspectorLease.test";
    const closer = [inTargetCall(inspectorCloser, null)];
    const hold = (holder: string, openedBySeismo: boolean, leaseMs = 60_000) => target(inTargetExpression(holdInspector, { key, holder, leaseMs, checkEveryMs: 20, openedBySeismo }, closer));
    const release = (holder: string) => target(inTargetExpression(releaseInspector, { key, holder }, closer));

    // Found open (the app's own --inspect): released, left as found.
    expect(hold("a", false)).toEqual({ holders: 1, openedBySeismo: false });
    expect(release("a")).toEqual({ holders: 0, openedBySeismo: false, closing: false });
    // Opened by a sensor, joined by a capture that found it open: only the last one out closes it.
    expect(hold("sensor", true)).toEqual({ holders: 1, openedBySeismo: true });
    expect(hold("capture", false)).toEqual({ holders: 2, openedBySeismo: true });
    expect(release("capture")).toEqual({ holders: 1, openedBySeismo: true, closing: false });
    expect(release("sensor")).toEqual({ holders: 0, openedBySeismo: true, closing: true });
    await eventually(() => (closes.length === 1 ? true : undefined), { timeoutMs: 2_000 });
    // A holder that dies stops renewing: the target closes it once the lease runs out.
    expect(hold("dies", true, 50)).toEqual({ holders: 1, openedBySeismo: true });
    await eventually(() => (closes.length === 2 ? true : undefined), { timeoutMs: 2_000 });
    expect(target(`globalThis[Symbol.for(${JSON.stringify(key)})] === undefined`)).toBe(true);
  });
});
