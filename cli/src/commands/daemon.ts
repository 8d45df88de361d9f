import { parseArgs } from "node:util";
import { connectNats, describeError, ensureStream, NatsEventPublisher } from "@seismo/agent-proto";
import type { Logger } from "@seismo/daemon";
import { assertLoopbackUrl, createLogger, findNodeByCmdline, findNodeByCommandText, Outbox, readCmdline, Sensor } from "@seismo/daemon";
import { usageError } from "../cli-error.js";
import type { SamplingSettings } from "../options.js";
import {
  HELP_OPTION,
  NATS_HELP,
  NATS_OPTIONS,
  natsSettings,
  newDaemonId,
  parsePid,
  SAMPLING_HELP,
  SAMPLING_OPTIONS,
  samplingSettings,
} from "../options.js";
import { onStopSignal } from "../signals.js";

export const DAEMON_HELP = `Usage: seismo daemon --nats URL (--pid PID | --match TEXT | --inspector WS_URL) [options]

The sensor alone: attaches to one Node.js process and streams its profile
windows as protobuf events to NATS JetStream (subjects seismo.v1.<service>.*),
for \`seismo analyzer\` to store. Run it next to the app (same host or pod, same
user). While the broker is away it buffers (bounded) and retries.

On SIGINT/SIGTERM it publishes the last window, stops the profiler and
detaches; the app keeps running. When the app exits it says so and ends, or
with --wait, waits for the app to be started again with the same command line.

Options:
  --pid PID            the Node.js process to attach to
  --match TEXT         or the Node.js process whose command line contains TEXT
                       (waits for it to appear; with --wait, for each restart)
  --inspector WS_URL   or an inspector that is already open (loopback only)
  --wait               after the app exits, wait for it to start again
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
    },
    allowPositionals: true,
  });
  if (values.help) {
    out(DAEMON_HELP);
    return 0;
  }
  if (positionals.length > 0) throw usageError(`Unexpected "${positionals[0]}".`, "daemon");
  const chosen = [values.pid, values.match, values.inspector].filter((v) => v !== undefined).length;
  if (chosen !== 1) throw usageError("Give exactly one of --pid, --match or --inspector.", "daemon");
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
  let stopping = false;
  let current: Sensor | undefined;
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
    await outbox.close(3_000);
    await nc.close();
    removeSignals();
    throw error;
  }
  await outbox.close(5_000);
  await nc.drain().catch(() => undefined);
  removeSignals();
  return 0;
}

function sensorOptions(sampling: SamplingSettings, daemonId: string, outbox: Outbox, log: Logger) {
  return {
    service: sampling.service,
    deployment: sampling.deployment,
    daemonId,
    samplingIntervalUs: sampling.samplingIntervalUs,
    windowMs: sampling.windowMs,
    recompileOnAttach: sampling.recompileOnAttach,
    spikes: sampling.spikes,
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
