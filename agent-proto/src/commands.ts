import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { errorCodeOf, ErrorCodes, SeismoError } from "./errors.js";

/**
 * The command channel from analyzers to daemons: request/reply, one subject
 * per daemon, outside the event stream's subjects (JetStream would store a
 * command, and answer it with its own acknowledgement). On NATS it is
 * authenticated like the events (the same connection); in the embedded mode
 * it is a function call.
 *
 * Commands are small JSON documents with a version, an id, a deadline and a
 * kind; every reply names the command's id and says ok, or gives an error
 * with a stable code. A daemon refuses a command past its deadline.
 */
export const COMMAND_VERSION = 1;

export function commandSubject(daemonId: string): string {
  // NATS subject tokens: no dots, spaces or wildcards.
  return `seismo.cmd.v1.${daemonId.replace(/[.\s*>]/g, "_")}`;
}

export interface ArmCommand {
  kind: "arm";
  /** The target (attached process) the daemon must arm on. */
  targetId: string;
  /** An incident id, or "manual". */
  trigger: string;
  file: string;
  /** The function to capture, as `seismo top` names it... */
  functionName?: string;
  /** ...and the line it is declared on (1-based), which tells apart functions of one name (anonymous ones above all). */
  functionLine?: number;
  /** Or a line to capture at. */
  line?: number;
  hits?: number;
  ttlMs?: number;
  /** At most one snapshot per this many ms; between two, the breakpoint is removed (default 100; 0: every call). */
  minIntervalMs?: number;
}

export interface Command {
  v: typeof COMMAND_VERSION;
  id: string;
  /** Unix ms: past it, the daemon does nothing and says so. */
  deadlineMs: number;
  body: ArmCommand;
}

export interface CommandReply {
  id: string;
  ok: boolean;
  /** For an arm: the probe id and where it landed. */
  result?: { probeId: string; file: string; line: number; functionName: string };
  error?: { code: string; message: string };
}

export type CommandHandler = (command: Command) => Promise<CommandReply>;

export interface CommandClient {
  request(daemonId: string, body: ArmCommand, timeoutMs?: number): Promise<CommandReply>;
}

export interface CommandServer {
  serve(daemonId: string, handler: CommandHandler): Promise<void>;
  close(): Promise<void>;
}

let sequence = 0;
function newCommand(body: ArmCommand, timeoutMs: number): Command {
  return { v: COMMAND_VERSION, id: `cmd-${process.pid}-${Date.now()}-${++sequence}`, deadlineMs: Date.now() + timeoutMs, body };
}

/** Checks what arrived; a malformed command gets a reply that says what is wrong. */
export function parseCommand(text: string): Command {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new SeismoError(ErrorCodes.DECODE_MALFORMED, "The command is not JSON.");
  }
  const c = value as Partial<Command>;
  if (c.v !== COMMAND_VERSION) throw new SeismoError(ErrorCodes.DECODE_MALFORMED, `Command version ${String(c.v)} is not ${COMMAND_VERSION}: upgrade the older side.`);
  if (typeof c.id !== "string" || typeof c.deadlineMs !== "number" || !c.body || c.body.kind !== "arm") {
    throw new SeismoError(ErrorCodes.DECODE_MALFORMED, "The command lacks an id, a deadline or a known kind (arm).");
  }
  if (typeof c.body.targetId !== "string" || typeof c.body.file !== "string" || typeof c.body.trigger !== "string") {
    throw new SeismoError(ErrorCodes.DECODE_MALFORMED, "An arm command needs targetId, file and trigger.");
  }
  for (const field of ["hits", "ttlMs", "minIntervalMs", "line", "functionLine"] as const) {
    const value = c.body[field];
    if (value !== undefined && (typeof value !== "number" || !Number.isFinite(value) || value < 0)) {
      throw new SeismoError(ErrorCodes.DECODE_MALFORMED, `An arm command's ${field} must be a number of 0 or more, not ${JSON.stringify(value)}.`);
    }
  }
  return c as Command;
}

/** Runs a handler for one command text, never throws: every failure becomes a reply. */
export async function answer(text: string, handler: CommandHandler): Promise<CommandReply> {
  let command: Command;
  try {
    command = parseCommand(text);
  } catch (error) {
    return { id: "", ok: false, error: { code: error instanceof SeismoError ? error.code : ErrorCodes.DECODE_MALFORMED, message: (error as Error).message } };
  }
  if (Date.now() > command.deadlineMs) {
    return { id: command.id, ok: false, error: { code: ErrorCodes.COMMAND_TIMEOUT, message: "The command arrived after its deadline; nothing was done." } };
  }
  try {
    return await handler(command);
  } catch (error) {
    return { id: command.id, ok: false, error: { code: errorCodeOf(error), message: (error as Error).message } };
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class NatsCommandClient implements CommandClient {
  constructor(private readonly nc: NatsConnection) {}

  async request(daemonId: string, body: ArmCommand, timeoutMs = 10_000): Promise<CommandReply> {
    const command = newCommand(body, timeoutMs);
    try {
      const reply = await this.nc.request(commandSubject(daemonId), encoder.encode(JSON.stringify(command)), { timeout: timeoutMs });
      return JSON.parse(decoder.decode(reply.data)) as CommandReply;
    } catch (error) {
      return { id: command.id, ok: false, error: { code: ErrorCodes.COMMAND_TIMEOUT, message: `No answer from daemon ${daemonId} within ${timeoutMs} ms: ${(error as Error).message}.` } };
    }
  }
}

export class NatsCommandServer implements CommandServer {
  private subscription: Subscription | undefined;

  constructor(private readonly nc: NatsConnection) {}

  async serve(daemonId: string, handler: CommandHandler): Promise<void> {
    this.subscription = this.nc.subscribe(commandSubject(daemonId), {
      callback: (error, message) => {
        if (error) return;
        void answer(decoder.decode(message.data), handler).then((reply) => message.respond(encoder.encode(JSON.stringify(reply))));
      },
    });
    await this.nc.flush();
  }

  async close(): Promise<void> {
    this.subscription?.unsubscribe();
  }
}

/** The embedded mode: the analyzer calls the daemon's handler in the same process. */
export function createInProcessCommands(): { client: CommandClient; server: CommandServer } {
  const handlers = new Map<string, CommandHandler>();
  return {
    client: {
      async request(daemonId, body, timeoutMs = 10_000) {
        const handler = handlers.get(daemonId);
        const command = newCommand(body, timeoutMs);
        if (!handler) return { id: command.id, ok: false, error: { code: ErrorCodes.NOT_FOUND, message: `No daemon ${daemonId} here.` } };
        return answer(JSON.stringify(command), handler);
      },
    },
    server: {
      async serve(daemonId, handler) {
        handlers.set(daemonId, handler);
      },
      async close() {
        handlers.clear();
      },
    },
  };
}
