import { parseArgs } from "node:util";
import { connectNats, describeError, ensureStream, NatsCommandServer, NatsEventPublisher } from "@seismo/agent-proto";
import type { Logger } from "@seismo/daemon";
import { armCommandHandler, assertLoopbackUrl, createLogger, Discovery, ErrorMemory, findNodeByCmdline, findNodeByCommandText, Outbox, readCmdline, Sensor } from "@seismo/daemon";
import { usageError } from "../cli-error.js";
import type { SamplingSettings } from "../options.js";
import {
  HELP_OPTION,
  NATS_HELP,
  NATS_OPTIONS,
  natsSettings,
  newDaemonId,
  parsePid,
  parsePort,
  SAMPLING_HELP,
  SAMPLING_OPTIONS,
  samplingSettings,
} from "../options.js";
import { DaemonMetrics } from "../health/daemon-metrics.js";
import { startHealthServer } from "../health/health-server.js";
import { onStopSignal } from "../signals.js";

export const DAEMON_HELP = `Usage: seismo daemon --nats URL (--discover | --pid PID | --match TEXT | --inspector WS_URL) [options]

The sensor alone: attaches to one Node.js process and streams its profile
windows as protobuf events to NATS JetStream (subjects seismo.v1.<service>.*),
for \`seismo analyzer\` to store. Run it next to the app (same host or pod, same
user). While the broker is away it buffers (bounded) and retries.

On SIGINT/SIGTERM it publishes the last window, stops the profiler and
detaches; the app keeps running. When the app exits it says so and ends, or
with --wait, waits for the app to be started again with the same command line.

With --discover (the Kubernetes sidecar), every Node.js process in sight:
each new one is attached within a few seconds, a restarted one again, and
one whose options forbid the inspector (--disable-sigusr1, --permission
without --allow-inspector, ...) is reported once with the fix and left alone.

An app that an uncaught exception killed, attached again after its restart
(--wait or --discover), gets that exception's capture at once: its next
crash comes with the values of the line that threw.

Options:
  --discover           attach to every Node.js process this user can see (the pod's, with
                       shareProcessNamespace: true), and keep attached as they come and go
  --only TEXT          with --discover: only processes whose command line contains TEXT
  --pid PID            the Node.js process to attach to
  --match TEXT         or the Node.js process whose command line contains TEXT
                       (waits for it to appear; with --wait, for each restart)
  --inspector WS_URL   or an inspector that is already open (loopback only)
  --wait               after the app exits, wait for it to start again
  --health-port PORT   serve /healthz, /readyz and Prometheus /metrics on this port (all
                       interfaces: counts only, no app data); 0 for any free port
                       (default: $SEISMO_HEALTH_PORT, else none)
${SAMPLING_HELP}
${NATS_HELP}
  -h, --help           this help`;

export async function daemonCommand(args: string[], out: (text: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      ...SAMPLING_OPTIONS,
      ...NATS_OPTIONS,
      ...HELP_OPTION,
      pid: { type: "string" },
      match: { type: "string" },
      inspector: { type: "string" },
      wait: { type: "boolean" },
      discover: { type: "boolean" },
      only: { type: "string" },
      "health-port": { type: "string" },
    },
    allowPositionals: true,
  });
  if (values.help) {
    out(DAEMON_HELP);
    return 0;
  }
  if (positionals.length > 0) throw usageError(`Unexpected "${positionals[0]}".`, "daemon");
  const chosen = [values.pid, values.match, values.inspector, values.discover || undefined].filter((v) => v !== undefined).length;
  if (chosen !== 1) throw usageError("Give exactly one of --discover, --pid, --match or --inspector.", "daemon");
  if (values.only !== undefined && !values.discover) throw usageError("--only goes with --discover.", "daemon");
  const healthPortText = values["health-port"] ?? process.env.SEISMO_HEALTH_PORT;
  const healthPort = healthPortText === undefined ? undefined : parsePort(healthPortText, "daemon");
  const pid = values.pid === undefined ? undefined : parsePid(values.pid, "daemon");
  // Refuse a non-loopback inspector before touching the network at all.
  if (values.inspector !== undefined) assertLoopbackUrl(values.inspector);
  const sampling = samplingSettings(values, "daemon");
  const daemonId = newDaemonId();
  const nats = natsSettings(values, `seismo-daemon ${daemonId}`, "daemon");
  const log = createLogger("seismo daemon");

  const nc = await connectNats(nats);
  await ensureStream(nc);
  const outbox = new Outbox(new NatsEventPublisher(nc), log);
  if (values.discover) return discoverMode({ nc, outbox, log, daemonId, sampling, only: values.only, healthPort });
  let stopping = false;
  let current: Sensor | undefined;
  // Analyzers ask this daemon to capture a culprit's values (request/reply on the same authenticated connection).
  const commands = new NatsCommandServer(nc);
  await commands.serve(daemonId, armCommandHandler((targetId) => (current?.target.targetId === targetId ? current : undefined)));
  const removeSignals = onStopSignal(() => {
    stopping = true;
    void current?.stop();
  });
  try {
    let target = pid;
    if (values.match !== undefined) {
      log.info(`waiting for a Node.js process whose command line contains "${values.match}"`);
      target = await waitForProcess(() => findNodeByCommandText(values.match as string), () => stopping);
      if (target === undefined) return 0;
    }
    const cmdline = target !== undefined && values.wait && values.match === undefined ? readCmdline(target) : undefined;
    for (;;) {
      current = await Sensor.attach({
        ...sensorOptions(sampling, daemonId, outbox, log),
        ...(target !== undefined ? { pid: target } : { inspectorUrl: values.inspector as string }),
      });
      if (stopping) await current.stop();
      const reason = await current.done;
      if (reason === "stopped" || !values.wait || target === undefined) break;
      const previous = current.target.pid;
      const match = values.match;
      log.info(`waiting for the app to start again`);
      target = await waitForProcess(
        () => (match !== undefined ? findNodeByCommandText(match) : findNodeByCmdline(cmdline ?? [], previous)),
        () => stopping,
        previous,
      );
      if (target === undefined) break;
    }
  } catch (error) {
    log.error(describeError(error));
    await commands.close();
    await outbox.close(3_000);
    await nc.close();
    removeSignals();
    throw error;
  }
  await commands.close();
  await outbox.close(5_000);
  await nc.drain().catch(() => undefined);
  removeSignals();
  return 0;
}

/** One per daemon: an app an exception killed is known again when it restarts (see ErrorMemory). */
const errorMemory = new ErrorMemory();

function sensorOptions(sampling: SamplingSettings, daemonId: string, outbox: Outbox, log: Logger) {
  return {
    errorMemory,
    service: sampling.service,
    deployment: sampling.deployment,
    daemonId,
    samplingIntervalUs: sampling.samplingIntervalUs,
    windowMs: sampling.windowMs,
    recompileOnAttach: sampling.recompileOnAttach,
    deinline: sampling.deinline,
    spikes: sampling.spikes,
    redactNames: sampling.redactNames,
    errorCapture: sampling.errorCapture,
    endpoints: sampling.endpoints,
    queries: sampling.queries,
    heartbeatMs: 15_000,
    outbox,
    log,
    activate: { handlerWaitMs: 10_000 },
    ...(process.env.POD_NAME ? { pod: process.env.POD_NAME } : {}),
    ...(process.env.POD_NAMESPACE ? { namespace: process.env.POD_NAMESPACE } : {}),
  };
}

/** Polls until `find` names a process (other than `previous`, which may linger as a zombie), or we are stopped. */
async function waitForProcess(find: () => number | undefined, stopped: () => boolean, previous?: number): Promise<number | undefined> {
  while (!stopped()) {
    const pid = find();
    if (pid !== undefined && pid !== previous) return pid;
    await new Promise((r) => setTimeout(r, 500));
  }
  return undefined;
}

interface DiscoverContext {
  nc: Awaited<ReturnType<typeof connectNats>>;
  outbox: Outbox;
  log: Logger;
  daemonId: string;
  sampling: SamplingSettings;
  only: string | undefined;
  healthPort: number | undefined;
}

/** --discover: every Node process in sight, attached and kept attached, until SIGINT/SIGTERM. */
async function discoverMode({ nc, outbox, log, daemonId, sampling, only, healthPort }: DiscoverContext): Promise<number> {
  // Read at each scrape; `discovery` exists by then.
  const metrics: DaemonMetrics = new DaemonMetrics({
    attached: () => discovery.sensors().length,
    blocked: () => discovery.blocked(),
    outbox: () => outbox.stats,
    capturesArmed: () => discovery.sensors().reduce((sum, s) => sum + s.captures.armed().length, 0),
    attachFailures: () => discovery.stats.attachFailures,
  });
  const discovery = new Discovery<Sensor>(
    {
      attach: async (pid) => {
        const sensor = await Sensor.attach({
          ...sensorOptions(sampling, daemonId, outbox, log),
          pid,
          onWindow: () => metrics.windows.inc(),
          onSpike: () => metrics.bursts.inc(),
          onSnapshot: (snapshot) => {
            metrics.snapshots.inc();
            if (snapshot.captureCostUs > 0) metrics.captureSeconds.observe(snapshot.captureCostUs / 1e6);
          },
        });
        if (sensor.attachPauseMs !== undefined) metrics.pauseSeconds.observe(sensor.attachPauseMs / 1000);
        return sensor;
      },
      log,
    },
    { only },
  );
  const registry = metrics.registry;
  const commands = new NatsCommandServer(nc);
  await commands.serve(daemonId, armCommandHandler((targetId) => discovery.sensorFor(targetId)));
  const health =
    healthPort === undefined ? undefined : (
      await startHealthServer(healthPort, "0.0.0.0", {
        notReady: () => (nc.isClosed() ? "the NATS connection is closed" : discovery.stats.scans === 0 ? "no scan yet" : undefined),
        metrics: () => registry.metrics(),
        contentType: registry.contentType,
      })
    );
  if (health) log.info(`health and metrics on port ${health.port} (/healthz, /readyz, /metrics)`);
  log.info(`discovering Node.js processes${only ? ` whose command line contains "${only}"` : ""}`);
  discovery.start();
  let removeSignals = (): void => undefined;
  await new Promise<void>((resolve) => {
    removeSignals = onStopSignal(() => resolve());
  });
  await discovery.stop();
  await commands.close();
  await health?.close();
  await outbox.close(5_000);
  await nc.drain().catch(() => undefined);
  removeSignals();
  return 0;
}
