import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { NatsConnectOptions } from "@seismo/agent-proto";
import { parseDuration } from "@seismo/analyzer";
import { usageError } from "./cli-error.js";

/** Flags shared by verbs, as util.parseArgs option descriptors. */
export const DB_OPTION = { db: { type: "string" } } as const;
export const SAMPLING_OPTIONS = {
  interval: { type: "string" },
  window: { type: "string" },
  service: { type: "string" },
  deployment: { type: "string" },
  "keep-optimized-code": { type: "boolean" },
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
                       functions inlined before attaching are then charged to their callers`;
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
}

export function samplingSettings(
  values: { interval?: string; window?: string; service?: string; deployment?: string; "keep-optimized-code"?: boolean },
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
  };
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
