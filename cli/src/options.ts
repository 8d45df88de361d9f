import { isIP } from "node:net";
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { NatsConnectOptions } from "@seismo/agent-proto";
import type { RegressionWatchSettings, WebhookSettings } from "@seismo/analyzer";
import { DEFAULT_REGRESSION_WATCH, DEFAULT_WEBHOOK_SETTINGS, parseDuration } from "@seismo/analyzer";
import type { SensorSettings, SpikeSettings } from "@seismo/daemon";
import { DEFAULT_SPIKE_SETTINGS } from "@seismo/daemon";
import { usageError } from "./cli-error.js";

/** Flags shared by verbs, as util.parseArgs option descriptors. */
export const DB_OPTION = { db: { type: "string" } } as const;
export const SAMPLING_OPTIONS = {
  interval: { type: "string" },
  window: { type: "string" },
  service: { type: "string" },
  deployment: { type: "string" },
  "keep-optimized-code": { type: "boolean" },
  "as-v8-charged": { type: "boolean" },
  "burst-interval": { type: "string" },
  "burst-duration": { type: "string" },
  "burst-cooldown": { type: "string" },
  "no-spikes": { type: "boolean" },
  "no-error-capture": { type: "boolean" },
  "no-endpoints": { type: "boolean" },
  "no-queries": { type: "boolean" },
  "no-requests": { type: "boolean" },
  redact: { type: "string" },
} as const;
export const NATS_OPTIONS = {
  nats: { type: "string" },
  "nats-token": { type: "string" },
  "nats-user": { type: "string" },
  "nats-pass": { type: "string" },
  "nats-creds": { type: "string" },
} as const;
export const HELP_OPTION = { help: { type: "boolean", short: "h" } } as const;
export const ANALYSIS_OPTIONS = {
  webhook: { type: "string" },
  "webhook-cooldown": { type: "string" },
  "webhook-format": { type: "string" },
  "no-regressions": { type: "boolean" },
  "no-capture": { type: "boolean" },
} as const;

export const DB_HELP = "  --db PATH            SQLite database (default: $SEISMO_DB or ./seismo.db)";
export const SAMPLING_HELP = `  --interval MS        CPU sampling interval in milliseconds (default 10; 1 costs ~10-15 % throughput)
  --window DURATION    length of one profile window (default 10s)
  --service NAME       service name (default: the target's SEISMO_SERVICE, its package.json name, or its script name)
  --deployment LABEL   deployment label, e.g. a git SHA (default: the target's SEISMO_DEPLOYMENT, GIT_SHA, ...,
                       else the pod's version or pod-template-hash label, else a fingerprint of the app's code)
  --keep-optimized-code  skip the one-off recompile on attach (a pause of a few ms to tens of ms);
                       functions inlined before attaching are then charged to their callers
  --as-v8-charged      publish CPU time exactly as V8's profiler charges it: inlined functions'
                       time stays on the function they were inlined into (by default Seismo moves it
                       back to them from their source lines, and marks what it cannot tell apart)
  --burst-interval MS  sampling interval of the profile taken during a CPU spike (default 0.5)
  --burst-duration D   how long that profile runs (default 2s, at most 10s)
  --burst-cooldown D   no new spike profile sooner than this after the last (default 60s)
  --no-spikes          do not watch for CPU spikes (no event-loop monitor in the app, no bursts)
  --no-error-capture   do not watch uncaught exceptions (by default each new one is reported with its
                       stack, and its throw site captured when it is thrown again)
  --no-endpoints       do not time HTTP endpoints (by default two diagnostics-channel subscribers in
                       the app count requests per method, route and status, with their latency)
  --no-queries         do not time database queries (by default mysql2's tracing channels are
                       subscribed to and pg's Client.prototype.query is wrapped while attached)
  --no-requests        keep no failed or slow request (by default each request's queries and calls
                       are followed through its async work, and a 5xx or slow one is kept: about
                       a microsecond a request; see seismo requests --help)
  --redact NAMES       more names whose values captures must redact, comma-separated, besides the
                       built-in list (default: $SEISMO_REDACT)`;
export const NATS_HELP = `  --nats URL           NATS server(s), comma-separated (default: $SEISMO_NATS_URL)
  --nats-token TOKEN   token auth (default: $SEISMO_NATS_TOKEN)
  --nats-user USER     user/password auth (default: $SEISMO_NATS_USER, password from $SEISMO_NATS_PASSWORD)
  --nats-pass PASS
  --nats-creds FILE    .creds file (JWT + NKey), default: $SEISMO_NATS_CREDS`;

export const ANALYSIS_HELP = `  --webhook URL        send each new incident there as JSON (docs/alert.schema.json), or as Slack
                       text for a hooks.slack.com URL; once per incident (default: $SEISMO_WEBHOOK_URL)
  --webhook-cooldown D the same culprit alerts again only after this (default 1h)
  --webhook-format F   json or slack (default: slack for Slack URLs, else json)
  --no-regressions     do not compare new deployments with the previous one
  --no-capture         do not capture the culprit's values when an incident opens`;

export interface AnalysisSettings {
  webhook: WebhookSettings | undefined;
  regressionWatch: RegressionWatchSettings | false;
  /** Capture the culprit's values when an incident opens (embedded mode). */
  capture: boolean;
}

export function analysisSettings(
  values: { webhook?: string; "webhook-cooldown"?: string; "webhook-format"?: string; "no-regressions"?: boolean; "no-capture"?: boolean },
  verb: string,
): AnalysisSettings {
  const url = values.webhook ?? (process.env.SEISMO_WEBHOOK_URL || undefined);
  const regressionWatch = values["no-regressions"] ? false : DEFAULT_REGRESSION_WATCH;
  if (url === undefined) {
    if (values["webhook-cooldown"] !== undefined || values["webhook-format"] !== undefined) throw usageError("--webhook-cooldown and --webhook-format need --webhook URL.", verb);
    return { webhook: undefined, regressionWatch, capture: !values["no-capture"] };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw usageError(`--webhook must be an http(s) URL, not "${url}".`, verb);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw usageError(`--webhook must be an http(s) URL, not "${parsed.protocol}".`, verb);
  const format = values["webhook-format"];
  if (format !== undefined && format !== "json" && format !== "slack") throw usageError(`--webhook-format is json or slack, not "${format}".`, verb);
  const coolDownMs = values["webhook-cooldown"] === undefined ? DEFAULT_WEBHOOK_SETTINGS.coolDownMs : parseDuration(values["webhook-cooldown"]);
  return { webhook: { ...DEFAULT_WEBHOOK_SETTINGS, url, coolDownMs, ...(format ? { format } : {}) }, regressionWatch, capture: !values["no-capture"] };
}

export function dbPath(value: string | undefined): string {
  return value ?? process.env.SEISMO_DB ?? "seismo.db";
}

export function samplingSettings(
  values: {
    interval?: string;
    window?: string;
    service?: string;
    deployment?: string;
    "keep-optimized-code"?: boolean;
    "as-v8-charged"?: boolean;
    "burst-interval"?: string;
    "burst-duration"?: string;
    "burst-cooldown"?: string;
    "no-spikes"?: boolean;
    "no-error-capture"?: boolean;
    "no-endpoints"?: boolean;
    "no-queries"?: boolean;
    "no-requests"?: boolean;
    redact?: string;
  },
  verb: string,
): SensorSettings {
  const intervalMs = values.interval === undefined ? 10 : Number(values.interval);
  if (!Number.isFinite(intervalMs) || intervalMs < 0.1 || intervalMs > 1_000) {
    throw usageError(`--interval must be a number of milliseconds between 0.1 and 1000, not "${values.interval}".`, verb);
  }
  const windowMs = values.window === undefined ? 10_000 : parseDuration(values.window);
  if (windowMs < 500 || windowMs > 600_000) throw usageError(`--window must be between 500ms and 10m, not "${values.window}".`, verb);
  return {
    samplingIntervalUs: Math.round(intervalMs * 1_000),
    windowMs,
    service: values.service,
    deployment: values.deployment,
    recompileOnAttach: !values["keep-optimized-code"],
    deinline: !values["as-v8-charged"],
    spikes: values["no-spikes"] ? false : spikeSettings(values, verb),
    redactNames: redactNames(values.redact),
    errorCapture: !values["no-error-capture"],
    endpoints: !values["no-endpoints"],
    queries: !values["no-queries"],
    requests: !values["no-requests"],
  };
}

/** "--redact tenantKey,x-internal-auth", or $SEISMO_REDACT. */
export function redactNames(flag: string | undefined): string[] {
  return (flag ?? process.env.SEISMO_REDACT ?? "")
    .split(",")
    .map((n) => n.trim())
    .filter((n) => n !== "");
}

function spikeSettings(values: { "burst-interval"?: string; "burst-duration"?: string; "burst-cooldown"?: string }, verb: string): SpikeSettings {
  const intervalMs = values["burst-interval"] === undefined ? DEFAULT_SPIKE_SETTINGS.burstIntervalUs / 1_000 : Number(values["burst-interval"]);
  if (!Number.isFinite(intervalMs) || intervalMs < 0.1 || intervalMs > 10) {
    throw usageError(`--burst-interval must be a number of milliseconds between 0.1 and 10, not "${values["burst-interval"]}".`, verb);
  }
  const durationMs = values["burst-duration"] === undefined ? DEFAULT_SPIKE_SETTINGS.burstDurationMs : parseDuration(values["burst-duration"]);
  if (durationMs < 200 || durationMs > 10_000) throw usageError(`--burst-duration must be between 200ms and 10s, not "${values["burst-duration"]}".`, verb);
  const cooldownMs = values["burst-cooldown"] === undefined ? DEFAULT_SPIKE_SETTINGS.cooldownMs : parseDuration(values["burst-cooldown"]);
  if (cooldownMs < 1_000 || cooldownMs > 86_400_000) throw usageError(`--burst-cooldown must be between 1s and 24h, not "${values["burst-cooldown"]}".`, verb);
  return { ...DEFAULT_SPIKE_SETTINGS, burstIntervalUs: Math.round(intervalMs * 1_000), burstDurationMs: durationMs, cooldownMs };
}

export function natsSettings(
  values: { nats?: string; "nats-token"?: string; "nats-user"?: string; "nats-pass"?: string; "nats-creds"?: string },
  name: string,
  verb: string,
): NatsConnectOptions {
  const servers = values.nats ?? process.env.SEISMO_NATS_URL;
  if (!servers) throw usageError("Give the NATS server with --nats nats://host:4222 (or SEISMO_NATS_URL).", verb);
  const settings: NatsConnectOptions = { servers, name };
  const token = values["nats-token"] ?? process.env.SEISMO_NATS_TOKEN;
  const user = values["nats-user"] ?? process.env.SEISMO_NATS_USER;
  const pass = values["nats-pass"] ?? process.env.SEISMO_NATS_PASSWORD;
  const creds = values["nats-creds"] ?? process.env.SEISMO_NATS_CREDS;
  if (token) settings.token = token;
  if (user) settings.user = user;
  if (pass) settings.pass = pass;
  if (creds) settings.credsFile = creds;
  return settings;
}

export const HEALTH_OPTIONS = {
  "health-port": { type: "string" },
  "health-host": { type: "string" },
} as const;

export const HEALTH_HELP = `  --health-port PORT   serve /healthz, /readyz and Prometheus /metrics on this port (counts
                       only, no app data); 0 for any free port (default: $SEISMO_HEALTH_PORT,
                       else none)
  --health-host ADDR   the address it listens on (default: $SEISMO_HEALTH_HOST, else 0.0.0.0,
                       all interfaces, so that the kubelet's probes and Prometheus reach the
                       pod's IP); 127.0.0.1 keeps it to this host or pod`;

/** Where the health and metrics server listens, or undefined when none is asked for. */
export function healthSettings(values: { "health-port"?: string | undefined; "health-host"?: string | undefined }, verb: string): { port: number; host: string } | undefined {
  const portText = values["health-port"] ?? process.env.SEISMO_HEALTH_PORT;
  const host = values["health-host"] ?? process.env.SEISMO_HEALTH_HOST ?? "0.0.0.0";
  if (isIP(host) === 0 && host !== "localhost") throw usageError(`--health-host must be an IP address (127.0.0.1, 0.0.0.0, ::), not "${host}".`, verb);
  if (portText === undefined) {
    if (values["health-host"] !== undefined) throw usageError("--health-host goes with --health-port.", verb);
    return undefined;
  }
  return { port: parsePort(portText, verb), host };
}

/** --health-port: a port number, or 0 for any free one. */
export function parsePort(text: string, verb: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65_535) throw usageError(`--health-port must be a port number (0 for any free one), not "${text}".`, verb);
  return port;
}

export function parsePid(text: string | undefined, verb: string): number {
  if (text === undefined) throw usageError("Give the pid of the Node.js process.", verb);
  if (!/^\d+$/.test(text) || Number(text) <= 0) throw usageError(`"${text}" is not a process id.`, verb);
  return Number(text);
}

/** Unique per daemon process; part of every target id. */
export function newDaemonId(): string {
  return `${hostname()}-${randomBytes(3).toString("hex")}`;
}
