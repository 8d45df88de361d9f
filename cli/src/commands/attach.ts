import { parseArgs } from "node:util";
import { usageError } from "../cli-error.js";
import { startEmbedded } from "../embedded.js";
import {
  ANALYSIS_HELP,
  ANALYSIS_OPTIONS,
  analysisSettings,
  DB_HELP,
  DB_OPTION,
  dbPath,
  HELP_OPTION,
  parsePid,
  SAMPLING_HELP,
  SAMPLING_OPTIONS,
  samplingSettings,
} from "../options.js";
import { onStopSignal } from "../signals.js";
import { createLiveOutput } from "./live.js";

export const ATTACH_HELP = `Usage: seismo attach <pid> [options]

Attaches to a running Node.js process without changing it: opens its inspector
on 127.0.0.1 (SIGUSR1), samples its CPU continuously and stores per-function
figures in a local database, showing the hottest functions as it goes.
Ctrl-C detaches and leaves the process running; \`seismo top\` reads the result.

The process must belong to the same user. It refuses, and says why, when the
inspector is disabled (--disable-sigusr1, --permission) or would listen beyond
loopback.

Options:
${SAMPLING_HELP}
${ANALYSIS_HELP}
${DB_HELP}
  -h, --help           this help`;

export async function attachCommand(args: string[], out: (text: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { ...DB_OPTION, ...SAMPLING_OPTIONS, ...ANALYSIS_OPTIONS, ...HELP_OPTION },
    allowPositionals: true,
  });
  if (values.help) {
    out(ATTACH_HELP);
    return 0;
  }
  if (positionals.length > 1) throw usageError(`attach takes one pid, not ${positionals.length}.`, "attach");
  const pid = parsePid(positionals[0], "attach");
  const sampling = samplingSettings(values, "attach");
  const analysis = analysisSettings(values, "attach");
  const db = dbPath(values.db);
  const live = createLiveOutput(Boolean(process.stderr.isTTY));
  // Listened for before attaching: a Ctrl-C while Seismo attaches (after it opened the inspector)
  // must detach, and close what it opened, not kill Seismo with the inspector left open.
  let stop = (): void => {
    stopAsked = true;
  };
  let stopAsked = false;
  const removeSignals = onStopSignal(() => stop());
  let embedded: Awaited<ReturnType<typeof startEmbedded>>;
  try {
    embedded = await startEmbedded({ dbPath: db, pid, sampling, analysis, log: live.log, onTop: live.onTop });
  } catch (error) {
    removeSignals();
    throw error;
  }
  stop = () => void embedded.shutdown();
  if (stopAsked) stop();
  const reason = await embedded.sensor.done;
  await embedded.shutdown();
  removeSignals();
  live.view.close();
  process.stderr.write(`[seismo] ${reason === "stopped" ? "detached" : "target gone"}; data in ${db} (try \`seismo top --db ${db}\`)\n`);
  return 0;
}
