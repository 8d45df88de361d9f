import { connectNats, describeError, ensureStream, NatsCommandServer, NatsEventPublisher } from "@seismo/agent-proto";
import { assertLoopbackUrl, createLogger, Daemon } from "@seismo/daemon";
import { usageError } from "../cli-error.js";
import { verbArgs } from "../verb-args.js";
import {
  NATS_HELP,
  NATS_OPTIONS,
  natsSettings,
  newDaemonId,
  parsePid,
  HEALTH_HELP,
  HEALTH_OPTIONS,
  healthSettings,
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
${HEALTH_HELP}
${SAMPLING_HELP}
${NATS_HELP}
  -h, --help           this help`;

export async function daemonCommand(args: string[], out: (text: string) => void): Promise<number> {
  const parsed = verbArgs("daemon", args, {
    ...SAMPLING_OPTIONS,
    ...NATS_OPTIONS,
    pid: { type: "string" },
    match: { type: "string" },
    inspector: { type: "string" },
    wait: { type: "boolean" },
    discover: { type: "boolean" },
    only: { type: "string" },
    ...HEALTH_OPTIONS,
  }, DAEMON_HELP, out);
  if (!parsed) return 0;
  const { values } = parsed;
  const chosen = [values.pid, values.match, values.inspector, values.discover || undefined].filter((v) => v !== undefined).length;
  if (chosen !== 1) throw usageError("Give exactly one of --discover, --pid, --match or --inspector.", "daemon");
  if (values.only !== undefined && !values.discover) throw usageError("--only goes with --discover.", "daemon");
  const healthAt = healthSettings(values, "daemon");
  const pid = values.pid === undefined ? undefined : parsePid(values.pid, "daemon");
  // Refuse a non-loopback inspector before touching the network at all.
  if (values.inspector !== undefined) assertLoopbackUrl(values.inspector);
  const settings = samplingSettings(values, "daemon");
  const daemonId = newDaemonId();
  const nats = natsSettings(values, `seismo-daemon ${daemonId}`, "daemon");
  const log = createLogger("seismo daemon");

  const nc = await connectNats(nats);
  await ensureStream(nc);
  // Read at each scrape, once the daemon exists.
  const metrics: DaemonMetrics = new DaemonMetrics({
    attached: () => daemon.sensors().length,
    blocked: () => daemon.blocked(),
    outbox: () => daemon.outboxStats,
    capturesArmed: () => daemon.sensors().reduce((sum, s) => sum + s.captures.armed().length, 0),
    attachFailures: () => daemon.attachFailures,
  });
  // Analyzers ask this daemon to capture a culprit's values (request/reply on the same authenticated connection).
  const daemon: Daemon = await Daemon.start({
    daemonId,
    settings,
    publisher: new NatsEventPublisher(nc),
    commands: new NatsCommandServer(nc),
    log,
    observer: {
      onAttached: (sensor) => {
        if (sensor.attachPauseMs !== undefined) metrics.pauseSeconds.observe(sensor.attachPauseMs / 1000);
      },
      onWindow: () => metrics.windows.inc(),
      onSpike: () => metrics.bursts.inc(),
      onSnapshot: (snapshot) => {
        metrics.snapshots.inc();
        if (snapshot.captureCostUs > 0) metrics.captureSeconds.observe(snapshot.captureCostUs / 1e6);
      },
    },
  });
  const health =
    healthAt === undefined ? undefined : (
      await startHealthServer(healthAt.port, healthAt.host, {
        notReady: () => (nc.isClosed() ? "the NATS connection is closed" : values.discover && !daemon.scanned ? "no scan yet" : undefined),
        metrics: () => metrics.registry.metrics(),
        contentType: metrics.registry.contentType,
      })
    );
  if (health) log.info(`health and metrics on ${healthAt?.host}:${health.port} (/healthz, /readyz, /metrics)`);
  let requestStop = (): void => undefined;
  const stopRequested = new Promise<void>((resolve) => (requestStop = resolve));
  const removeSignals = onStopSignal(() => {
    requestStop();
    void daemon.stop();
  });
  try {
    if (values.discover) {
      daemon.discover({ only: values.only });
      await stopRequested;
    } else if (pid !== undefined) await daemon.follow({ pid, wait: values.wait === true });
    else if (values.match !== undefined) await daemon.follow({ match: values.match, wait: values.wait === true });
    else await daemon.follow({ inspectorUrl: values.inspector as string });
  } catch (error) {
    log.error(describeError(error));
    await daemon.stop(3_000);
    await health?.close();
    await nc.close();
    removeSignals();
    throw error;
  }
  await daemon.stop(5_000);
  await health?.close();
  await nc.drain().catch(() => undefined);
  removeSignals();
  return 0;
}
