import { parseArgs } from "node:util";
import { connectNats, ensureStream, NatsEventSubscriber } from "@seismo/agent-proto";
import { Analyzer, parseDuration } from "@seismo/analyzer";
import { createLogger } from "@seismo/daemon";
import { usageError } from "../cli-error.js";
import { DB_HELP, DB_OPTION, dbPath, HELP_OPTION, NATS_HELP, NATS_OPTIONS, natsSettings } from "../options.js";
import { onStopSignal } from "../signals.js";

export const ANALYZER_HELP = `Usage: seismo analyzer --nats URL [--db PATH] [options]

Consumes Seismo events from NATS JetStream (a durable consumer: nothing is lost
while it is down) and stores them in SQLite. A message is acknowledged only
after it is committed; a redelivered window is recognised and skipped.
Malformed messages are counted, logged once, kept in rejected_messages, and
dropped. \`seismo top --db PATH\` reads what it stores.

Options:
${DB_HELP}
  --retention DURATION keep profile windows this long (default 7d)
  --durable NAME       JetStream consumer name (default seismo-analyzer)
${NATS_HELP}
  -h, --help           this help`;

export async function analyzerCommand(args: string[], out: (text: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { ...DB_OPTION, ...NATS_OPTIONS, ...HELP_OPTION, retention: { type: "string" }, durable: { type: "string" } },
    allowPositionals: true,
  });
  if (values.help) {
    out(ANALYZER_HELP);
    return 0;
  }
  if (positionals.length > 0) throw usageError(`Unexpected "${positionals[0]}".`, "analyzer");
  const retentionMs = parseDuration(values.retention ?? "7d");
  const log = createLogger("seismo analyzer");
  const nats = natsSettings(values, "seismo-analyzer", "analyzer");
  const db = dbPath(values.db);
  const nc = await connectNats(nats);
  await ensureStream(nc);
  const analyzer = new Analyzer({
    dbPath: db,
    subscriber: new NatsEventSubscriber(nc, values.durable ? { durable: values.durable } : {}),
    retentionMs,
    log,
  });
  await analyzer.start();
  log.info(`consuming from ${nats.servers} into ${db}`);
  const report = setInterval(() => {
    const s = analyzer.stats;
    const rejected = Object.values(s.rejected).reduce((a, b) => a + b, 0);
    log.info(
      `received ${s.received}, windows stored ${s.windowsStored}, duplicates ${s.duplicates}, rejected ${rejected}, retried ${s.retried}`,
    );
  }, 60_000);
  report.unref();
  await new Promise<void>((resolve) => {
    const remove = onStopSignal(() => {
      remove();
      resolve();
    });
  });
  clearInterval(report);
  await analyzer.stop();
  await nc.drain().catch(() => undefined);
  log.info("stopped");
  return 0;
}
