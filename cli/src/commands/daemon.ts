import { parseArgs } from "node:util";
import { connectNats, describeError, ensureStream, NatsEventPublisher } from "@seismo/agent-proto";
import type { Logger } from "@seismo/daemon";
import { createLogger, findNodeByCmdline, Outbox, readCmdline, Sensor } from "@seismo/daemon";
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

export const DAEMON_HELP = `Usage: seismo daemon --nats URL (--pid PID | --inspector WS_URL) [options]

The sensor alone: attaches to one Node.js process and streams its profile
windows as protobuf events to NATS JetStream (subjects seismo.v1.<service>.*),
for \`seismo analyzer\` to store. Run it next to the app (same host or pod, same
user). While the broker is away it buffers (bounded) and retries.

On SIGINT/SIGTERM it publishes the last window, stops the profiler and
detaches; the app keeps running. When the app exits it says so and ends, or
with --wait, waits for the app to be started again with the same command line.

Options:
  --pid PID            the Node.js process to attach to
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
  if ((values.pid === undefined) === (values.inspector === undefined))
    throw usageError("Give exactly one of --pid or --inspector.", "daemon");
  const pid = values.pid === undefined ? undefined : parsePid(values.pid, "daemon");
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
    const cmdline = pid !== undefined && values.wait ? readCmdline(pid) : undefined;
    for (;;) {
      current = await Sensor.attach({
        ...sensorOptions(sampling, daemonId, outbox, log),
        ...(target !== undefined ? { pid: target } : { inspectorUrl: values.inspector as string }),
      });
      if (stopping) await current.stop();
      const reason = await current.done;
      if (reason === "stopped" || !values.wait || !cmdline) break;
      log.info(`waiting for "${cmdline.join(" ")}" to start again`);
      target = await waitForRestart(cmdline, current.target.pid, () => stopping);
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
    heartbeatMs: 15_000,
    outbox,
    log,
    activate: { handlerWaitMs: 10_000 },
    ...(process.env.POD_NAME ? { pod: process.env.POD_NAME } : {}),
    ...(process.env.POD_NAMESPACE ? { namespace: process.env.POD_NAMESPACE } : {}),
  };
}

async function waitForRestart(cmdline: string[], previous: number, stopped: () => boolean): Promise<number | undefined> {
  while (!stopped()) {
    const pid = findNodeByCmdline(cmdline, previous);
    if (pid !== undefined) return pid;
    await new Promise((r) => setTimeout(r, 500));
  }
  return undefined;
}
