import { randomBytes } from "node:crypto";
import { ErrorCodes, SeismoError } from "@seismo/agent-proto";
import { IN_TARGET_KEYS } from "../in-target/keys.js";
import { closeInspectorSoon, holdInspector, inspectorCloser, releaseInspector } from "../in-target/inspector-lease.js";
import type { LeaseState, ReleaseResult } from "../in-target/inspector-lease.js";
import { evaluateInTarget } from "../in-target/evaluate.js";
import { inTargetCall, inTargetExpression } from "../in-target/script.js";
import { listeningSocketsOf } from "../target/listening-sockets.js";
import { processExists } from "../target/proc.js";
import type { InspectorClient } from "../target/tcp-connections.js";
import { describeClient, otherInspectorClients } from "../target/tcp-connections.js";
import type { InspectorSession } from "./session.js";
import { connectInspector } from "./session.js";

/** Node's close of the inspector, made in the target for the lease functions. */
const CLOSER = [inTargetCall(inspectorCloser, null)];

/** How often the target looks for leases nobody renewed. */
const CHECK_EVERY_MS = 5_000;

/** What became of the inspector when a sensor let go of it. */
export type InspectorOutcome =
  | { kind: "closed"; disconnected: InspectorClient[] }
  /** Still used by another Seismo sensor: the last one out closes it. */
  | { kind: "shared"; holders: number }
  /** It was open before Seismo came (the app's own --inspect, or another tool's): left as found. */
  | { kind: "was-open" }
  | { kind: "left-open"; why: string };

/** Worth a warning: the inspector Seismo opened stays open, or closing it cut off somebody else's debugger. */
export function isWarning(outcome: InspectorOutcome): boolean {
  return outcome.kind === "left-open" || (outcome.kind === "closed" && outcome.disconnected.length > 0);
}

/** One line for the log and the goodbye: what Seismo did with the inspector. */
export function describeOutcome(outcome: InspectorOutcome, port: number | undefined): string {
  const where = port === undefined ? "the inspector" : `the inspector (port ${port})`;
  switch (outcome.kind) {
    case "closed":
      return outcome.disconnected.length === 0
        ? `closed ${where} it had opened`
        : `closed ${where} it had opened; this disconnected ${outcome.disconnected.map(describeClient).join(", ")}, a debugger that was not Seismo's`;
    case "shared":
      return `left ${where} open for ${outcome.holders} other Seismo sensor(s) using it; the last one closes it`;
    case "was-open":
      return `left ${where} open: it was open before Seismo came`;
    case "left-open":
      return `COULD NOT CLOSE ${where} it had opened: ${outcome.why}. Any local user can run code in the app through it until the app restarts`;
  }
}

/**
 * A sensor's hold on a target's inspector (see in-target/inspector-lease.ts). Taken when the
 * sensor connects, renewed with its heartbeat, released when it detaches: the last holder's
 * release closes an inspector Seismo opened, and a holder that dies is dropped by the target
 * itself once its lease runs out.
 */
export class InspectorLease {
  private constructor(
    private readonly holder: string,
    private readonly leaseMs: number,
    private readonly openedBySeismo: boolean,
    private state: LeaseState,
  ) {}

  get openedBy(): "seismo" | "before" {
    return this.state.openedBySeismo ? "seismo" : "before";
  }

  static async take(session: InspectorSession, options: { openedBySeismo: boolean; leaseMs: number; holderPrefix: string }): Promise<InspectorLease> {
    const holder = `${options.holderPrefix}:${randomBytes(6).toString("hex")}`;
    const state = await hold(session, holder, options.leaseMs, options.openedBySeismo);
    return new InspectorLease(holder, options.leaseMs, options.openedBySeismo, state);
  }

  /** Renews the lease; an unanswered renewal is tried again at the next heartbeat. */
  async renew(session: InspectorSession): Promise<void> {
    this.state = await hold(session, this.holder, this.leaseMs, this.openedBySeismo);
  }

  /**
   * Lets go. When this was the last lease on an inspector Seismo opened, the target closes it
   * after answering; `pid`/`port` (when /proc shows the target) confirm that it stopped listening.
   */
  async release(session: InspectorSession, where: { pid?: number; port?: number }): Promise<InspectorOutcome> {
    const visible = where.pid !== undefined && where.port !== undefined && processExists(where.pid);
    // Read before closing: afterwards the connections are gone.
    const others = visible ? otherInspectorClients(where.pid as number, where.port as number) : [];
    let result: ReleaseResult;
    try {
      const answer = await evaluateInTarget(session, inTargetExpression(releaseInspector, { key: IN_TARGET_KEYS.inspectorLease, holder: this.holder }, CLOSER), "Seismo's release of the inspector");
      if (!isLeaseState(answer) || typeof (answer as Partial<ReleaseResult>).closing !== "boolean") throw new Error("the target's answer is not a release");
      result = answer as ReleaseResult;
    } catch (error) {
      return this.state.openedBySeismo ? { kind: "left-open", why: (error as Error).message } : { kind: "was-open" };
    }
    if (!result.openedBySeismo) return { kind: "was-open" };
    if (!result.closing) return result.holders > 0 ? { kind: "shared", holders: result.holders } : { kind: "left-open", why: "this Node has no way to close it" };
    await session.close();
    if (visible && !(await stopsListening(where.pid as number, where.port as number))) {
      return { kind: "left-open", why: `port ${where.port} still listens 2 s after the close` };
    }
    return { kind: "closed", disconnected: others };
  }
}

async function hold(session: InspectorSession, holder: string, leaseMs: number, openedBySeismo: boolean): Promise<LeaseState> {
  const state = await evaluateInTarget(
    session,
    inTargetExpression(holdInspector, { key: IN_TARGET_KEYS.inspectorLease, holder, leaseMs, checkEveryMs: CHECK_EVERY_MS, openedBySeismo }, CLOSER),
    "Seismo's hold on the inspector",
  );
  if (!isLeaseState(state)) throw new SeismoError(ErrorCodes.INSPECTOR_PROTOCOL, "The target's answer to Seismo's hold on the inspector is not a lease.");
  return state;
}

function isLeaseState(value: unknown): value is LeaseState {
  const state = value as Partial<LeaseState> | null;
  return typeof state === "object" && state !== null && typeof state.holders === "number" && typeof state.openedBySeismo === "boolean";
}

/** Closes an inspector that must never be used (it opened beyond loopback), through `session`. */
export async function closeInspectorAtOnce(session: InspectorSession, where: { pid: number; port: number }): Promise<void> {
  const closing = await evaluateInTarget(session, inTargetExpression(closeInspectorSoon, null, CLOSER), "closing the inspector");
  await session.close();
  if (closing !== true || !(await stopsListening(where.pid, where.port))) {
    throw new SeismoError(ErrorCodes.INSPECTOR_NOT_LOOPBACK, `Could not close the inspector of process ${where.pid} on port ${where.port}.`);
  }
}

/** Waits (up to 2 s) for the target's inspector port to stop listening. */
async function stopsListening(pid: number, port: number): Promise<boolean> {
  const deadline = Date.now() + 2_000;
  for (;;) {
    let listening: boolean;
    try {
      listening = listeningSocketsOf(pid).some((s) => s.port === port);
    } catch {
      return true; // the process is gone, and its port with it
    }
    if (!listening) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * A hold on a target's inspector over a session of its own, renewed on a timer: for a command
 * that uses the inspector for a while without a sensor (`seismo capture --pid`).
 */
export class InspectorHold {
  private constructor(
    private readonly session: InspectorSession,
    private readonly lease: InspectorLease,
    private readonly timer: NodeJS.Timeout,
    private readonly where: { pid: number; port: number | undefined },
  ) {}

  static async open(
    endpoint: { webSocketDebuggerUrl: string; port: number; openedBySeismo: boolean },
    pid: number,
    options: { holderPrefix: string; renewEveryMs?: number; connect?: (url: string) => Promise<InspectorSession> },
  ): Promise<InspectorHold> {
    const renewEveryMs = options.renewEveryMs ?? 15_000;
    const session = await (options.connect ?? connectInspector)(endpoint.webSocketDebuggerUrl);
    try {
      const lease = await InspectorLease.take(session, { openedBySeismo: endpoint.openedBySeismo, leaseMs: 3 * renewEveryMs, holderPrefix: options.holderPrefix });
      const timer = setInterval(() => void lease.renew(session).catch(() => undefined), renewEveryMs);
      timer.unref();
      return new InspectorHold(session, lease, timer, { pid, port: endpoint.port });
    } catch (error) {
      await session.close();
      throw error;
    }
  }

  /** Lets go (closing the inspector if Seismo opened it and nobody else holds it): what became of it. */
  async release(): Promise<InspectorOutcome> {
    clearInterval(this.timer);
    try {
      return await this.lease.release(this.session, this.where);
    } finally {
      await this.session.close();
    }
  }
}
