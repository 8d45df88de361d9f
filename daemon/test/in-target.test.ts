import { once } from "node:events";
import { createServer, get } from "node:http";
import type { AddressInfo } from "node:net";
import { createContext, runInContext } from "node:vm";
import { describe, expect, it } from "vitest";
import {
  DB_PROBE_READ,
  DB_PROBE_REMOVE,
  dbProbeInstall,
  DEFAULT_DB_PROBE_SETTINGS,
  DEFAULT_HTTP_PROBE_SETTINGS,
  HTTP_PROBE_READ,
  HTTP_PROBE_REMOVE,
  httpProbeInstall,
  INSTALL_EXPRESSION,
  parseHttpReading,
  parseProbeEntries,
  READ_EXPRESSION,
  REMOVE_EXPRESSION,
} from "../src/index.js";
import { IN_TARGET_KEYS } from "../src/in-target/keys.js";
import { inTargetExpression } from "../src/in-target/script.js";

/**
 * A bare context with only what a target gives every script Seismo sends: JavaScript's
 * built-ins, `process` and the timers. A script that used anything of the daemon's own modules
 * (an import, a constant of the file it is written in) fails here with a ReferenceError.
 */
function bareTarget() {
  const context = createContext({ process, setInterval, clearInterval, setTimeout, clearTimeout });
  return (expression: string): unknown => runInContext(expression, context);
}

describe("in-target code is self-contained", () => {
  it("a script that reaches for a binding of its module fails in the bare context (the check can fail)", () => {
    const leaky = inTargetExpression(() => IN_TARGET_KEYS.httpProbe, null);
    // (A ReferenceError of the context's own realm.)
    expect(() => bareTarget()(leaky)).toThrow(/is not defined/);
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

  it("the HTTP probe times a real request with nothing from outside, and its read passes the daemon's checks", async () => {
    const target = bareTarget();
    expect(target(httpProbeInstall(DEFAULT_HTTP_PROBE_SETTINGS))).toBe("installed");
    const server = createServer((_req, res) => res.end("ok")).listen(0, "127.0.0.1");
    await once(server, "listening");
    try {
      const port = (server.address() as AddressInfo).port;
      await new Promise<void>((resolve, reject) => get({ host: "127.0.0.1", port, path: "/orders/123?x=1" }, (res) => res.resume().on("end", resolve)).on("error", reject));
      const reading = parseHttpReading(target(HTTP_PROBE_READ));
      expect(reading?.endpoints).toMatchObject([{ method: "GET", route: "/orders/:id", status: 200, count: 1, host: "" }]);
      expect(reading?.outgoing).toMatchObject([{ method: "GET", route: "/orders/:id", status: 200, count: 1, host: `127.0.0.1:${port}` }]);
    } finally {
      expect(target(HTTP_PROBE_REMOVE)).toBe(true);
      server.close();
    }
  });

  it("the database probe installs, digests and removes itself with nothing from outside", () => {
    const target = bareTarget();
    expect(target(dbProbeInstall(DEFAULT_DB_PROBE_SETTINGS))).toBe("installed");
    const digest = target(`globalThis[Symbol.for(${JSON.stringify(IN_TARGET_KEYS.dbProbe)})].digest("SELECT * FROM t WHERE id = 42 AND name = 'x' -- why")`);
    expect(digest).toBe("SELECT * FROM t WHERE id = ? AND name = ?");
    expect(parseProbeEntries(target(DB_PROBE_READ))).toEqual([]);
    expect(target(DB_PROBE_REMOVE)).toBe(true);
  });
});
