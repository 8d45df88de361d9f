import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { NatsConnectOptions } from "@seismo/agent-proto";
import { parseDuration } from "@seismo/analyzer";
import type { SpikeSettings } from "@seismo/daemon";
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
  "burst-interval": { type: "string" },
  "burst-duration": { type: "string" },
  "burst-cooldown": { type: "string" },
  "no-spikes": { type: "boolean" },
} as const;
export const NATS_OPTIONS = {
  nats: { type: "string" },
  "nats-token": { type: "string" },
  "nats-user": { type: "string" },
  "nats-pass": { type: "string" },
  "nats-creds": { type: "string" },
} as const;
export const HELP_OPTION = { help: { type: "boolean", short: "h" } } as const;

export const DB_HELP = "  --db PATH            SQLite database (default: $SEISMO_DB or ./seismo.db)";
export const SAMPLING_HELP = `  --interval MS        CPU sampling interval in milliseconds (default 10; 1 costs ~10-15 % throughput)
  --window DURATION    length of one profile window (default 10s)
  --service NAME       service name (default: the target's SEISMO_SERVICE, its package.json name, or its script name)
  --deployment LABEL   deployment label, e.g. a git SHA (default: the target's SEISMO_DEPLOYMENT, GIT_SHA, ...)
  --keep-optimized-code  skip the one-off recompile on attach (a pause of a few ms to tens of ms);
                       functions inlined before attaching are then charged to their callers
  --burst-interval MS  sampling interval of the profile taken during a CPU spike (default 0.5)
  --burst-duration D   how long that profile runs (default 2s, at most 10s)
  --burst-cooldown D   no new spike profile sooner than this after the last (default 60s)
  --no-spikes          do not watch for CPU spikes (no event-loop monitor in the app, no bursts)`;
export const NATS_HELP = `  --nats URL           NATS server(s), comma-separated (default: $SEISMO_NATS_URL)
  --nats-token TOKEN   token auth (default: $SEISMO_NATS_TOKEN)
  --nats-user USER     user/password auth (default: $SEISMO_NATS_USER, password from $SEISMO_NATS_PASSWORD)
  --nats-pass PASS
  --nats-creds FILE    .creds file (JWT + NKey), default: $SEISMO_NATS_CREDS`;

export function dbPath(value: string | undefined): string {
  return value ?? process.env.SEISMO_DB ?? "seismo.db";
}

export interface SamplingSettings {
  samplingIntervalUs: number;
  windowMs: number;
  service: string | undefined;
  deployment: string | undefined;
  recompileOnAttach: boolean;
  spikes: SpikeSettings | false;
}

export function samplingSettings(
  values: {
    interval?: string;
    window?: string;
    service?: string;
    deployment?: string;
    "keep-optimized-code"?: boolean;
    "burst-interval"?: string;
    "burst-duration"?: string;
    "burst-cooldown"?: string;
    "no-spikes"?: boolean;
  },
  verb: string,
): SamplingSettings {
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
    spikes: values["no-spikes"] ? false : spikeSettings(values, verb),
  };
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

export function parsePid(text: string | undefined, verb: string): number {
  if (text === undefined) throw usageError("Give the pid of the Node.js process.", verb);
  if (!/^\d+$/.test(text) || Number(text) <= 0) throw usageError(`"${text}" is not a process id.`, verb);
  return Number(text);
}

/** Unique per daemon process; part of every target id. */
export function newDaemonId(): string {
  return `${hostname()}-${randomBytes(3).toString("hex")}`;
}
