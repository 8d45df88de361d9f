import { connectNats, ensureStream, NatsCommandClient, NatsEventSubscriber } from "@seismo/agent-proto";
import { Analyzer, getIncident, parseDuration } from "@seismo/analyzer";
import { createLogger } from "@seismo/daemon";
import { verbArgs } from "../verb-args.js";
import {
  ANALYSIS_HELP,
  ANALYSIS_OPTIONS,
  analysisSettings,
  DB_HELP,
  DB_OPTION,
  dbPath,
  NATS_HELP,
  NATS_OPTIONS,
  natsSettings,
  HEALTH_HELP,
  HEALTH_OPTIONS,
  healthSettings,
} from "../options.js";
import { analyzerMetrics } from "../health/analyzer-metrics.js";
import { startHealthServer } from "../health/health-server.js";
import { onStopSignal } from "../signals.js";

export const ANALYZER_HELP = `Usage: seismo analyzer --nats URL [--db PATH] [options]

Consumes Seismo events from NATS JetStream (a durable consumer: nothing is lost
while it is down) and stores them in SQLite. A message is acknowledged only
after it is committed; a redelivered window is recognised and skipped.
Malformed messages are counted, logged once, kept in rejected_messages, and
dropped; so is a message the database refuses three times for a reason of its
own. A locked or full database is waited out (nothing is lost), and /readyz
says so. \`seismo top --db PATH\` reads what it stores.

It also compares each new deployment with the one before it (at 12, 30, 60
and 180 windows, then every 360) and opens a regression incident when a
function got slower, and sends incidents to a webhook when given one.

Options:
${DB_HELP}
${ANALYSIS_HELP}
  --retention DURATION keep profile windows this long (default 7d)
  --durable NAME       JetStream consumer name (default seismo-analyzer)
  --stuck-after D      /readyz turns red when messages come and none could be stored for this
                       long (a locked or full database; default 30s)
${HEALTH_HELP}
${NATS_HELP}
  -h, --help           this help`;

export async function analyzerCommand(args: string[], out: (text: string) => void): Promise<number> {
  const parsed = verbArgs("analyzer", args, { ...DB_OPTION, ...NATS_OPTIONS, ...ANALYSIS_OPTIONS, retention: { type: "string" }, durable: { type: "string" }, "stuck-after": { type: "string" }, ...HEALTH_OPTIONS }, ANALYZER_HELP, out);
  if (!parsed) return 0;
  const { values } = parsed;
  const retentionMs = parseDuration(values.retention ?? "7d");
  const stuckAfterMs = parseDuration(values["stuck-after"] ?? "30s");
  const healthAt = healthSettings(values, "analyzer");
  const analysis = analysisSettings(values, "analyzer");
  const log = createLogger("seismo analyzer");
  const nats = natsSettings(values, "seismo-analyzer", "analyzer");
  const db = dbPath(values.db);
  const nc = await connectNats(nats);
  await ensureStream(nc);
  const analyzer = new Analyzer({
    dbPath: db,
    subscriber: new NatsEventSubscriber(nc, values.durable ? { durable: values.durable } : {}),
    retentionMs,
    stuckAfterMs,
    log,
    regressionWatch: analysis.regressionWatch,
    ...(analysis.capture ? { commands: new NatsCommandClient(nc) } : {}),
    ...(analysis.webhook ? { webhook: analysis.webhook } : {}),
    onIncident: (id) => {
      try {
        log.warn(`incident ${id}: ${getIncident(analyzer.db, id).summary}`);
      } catch {
        // listed by `seismo incidents` all the same
      }
    },
  });
  await analyzer.start();
  log.info(`consuming from ${nats.servers} into ${db}`);
  const registry = analyzerMetrics(() => analyzer.stats);
  const health =
    healthAt === undefined ? undefined : (
      await startHealthServer(healthAt.port, healthAt.host, {
        notReady: () => (nc.isClosed() ? "the NATS connection is closed" : analyzer.ingestStuck()),
        metrics: () => registry.metrics(),
        contentType: registry.contentType,
      })
    );
  if (health) log.info(`health and metrics on ${healthAt?.host}:${health.port} (/healthz, /readyz, /metrics)`);
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
  await health?.close();
  await analyzer.stop();
  await nc.drain().catch(() => undefined);
  log.info("stopped");
  return 0;
}
