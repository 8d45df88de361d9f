import type { Hello } from "@seismo/agent-proto";
import { createInProcessCommands, decodeEvent, ErrorCodes, parseSubject } from "@seismo/agent-proto";
import { describe, expect, it } from "vitest";
import type { SensorSettings } from "../src/daemon.js";
import { Daemon } from "../src/daemon.js";
import { silentLogger } from "../src/logger.js";
import { FlakyPublisher } from "./flaky-publisher.js";
import { ScriptedSession } from "./scripted-session.js";

const settings: SensorSettings = {
  samplingIntervalUs: 10_000,
  windowMs: 60_000,
  service: "shop",
  deployment: "v7",
  recompileOnAttach: false,
  deinline: true,
  spikes: false,
  redactNames: [],
  errorCapture: false,
  endpoints: false,
  queries: false,
  requests: false,
};

function started(publisher = new FlakyPublisher()) {
  const commands = createInProcessCommands();
  const attached: string[] = [];
  let firstAttached = (): void => undefined;
  const attachedOnce = new Promise<void>((resolve) => (firstAttached = resolve));
  const daemon = Daemon.start({
    daemonId: "d1",
    settings,
    publisher,
    commands: commands.server,
    log: silentLogger,
    pod: "shop-7f9c",
    namespace: "prod",
    connect: async () => new ScriptedSession(),
    observer: {
      onAttached: (sensor) => {
        attached.push(sensor.target.targetId);
        firstAttached();
      },
    },
  });
  return { daemon, commands, publisher, attached, attachedOnce };
}

const arm = (targetId: string) => ({ kind: "arm" as const, targetId, trigger: "manual", file: "/app/a.js", functionName: "f" });

describe("Daemon", () => {
  it("attaches sensors with its settings and pod, answers commands for them, and detaches them all on stop", async () => {
    const { daemon: starting, commands, publisher, attached } = started();
    const daemon = await starting;
    const sensor = await daemon.attach({ inspectorUrl: "ws://127.0.0.1:1/scripted" });
    expect(attached).toEqual([sensor.target.targetId]);
    expect(sensor.target).toMatchObject({ daemonId: "d1", service: "shop", deployment: "v7", pod: "shop-7f9c", namespace: "prod" });
    expect(daemon.sensorFor(sensor.target.targetId)).toBe(sensor);
    // A command for a target this daemon does not hold is answered with why, not dropped.
    const unknown = await commands.client.request("d1", arm("d1:999:0:x"));
    expect(unknown.ok).toBe(false);
    expect(unknown.error?.code).toBe(ErrorCodes.TARGET_NOT_FOUND);

    await daemon.stop(1_000);
    expect(await sensor.done).toBe("stopped");
    expect(daemon.sensors()).toEqual([]);
    const hello = publisher.received
      .map((m) => decodeEvent(m.data, parseSubject(m.subject).kind))
      .find((e) => e.kind === "hello")?.body as Hello | undefined;
    expect(hello?.windowMs).toBe(60_000);
    expect(publisher.kinds().at(-1)).toBe("goodbye");
    // Stopped: it answers no more commands.
    expect((await commands.client.request("d1", arm(sensor.target.targetId))).error?.code).toBe(ErrorCodes.NOT_FOUND);
  });

  it("follows a target until it is stopped, and stops waiting for one that never appears", async () => {
    const { daemon: starting, attachedOnce } = started();
    const daemon = await starting;
    const following = daemon.follow({ inspectorUrl: "ws://127.0.0.1:1/scripted" });
    const waiting = daemon.follow({ match: "no-such-app-7c1e0b", wait: true });
    await attachedOnce;
    const began = Date.now();
    await daemon.stop(1_000);
    await Promise.all([following, waiting]);
    // The wait for a process is woken by stop(), not left to its next poll.
    expect(Date.now() - began).toBeLessThan(400);
  });

});
