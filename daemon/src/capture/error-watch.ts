import type { Snapshot, TargetRef } from "@seismo/agent-proto";
import { describeError } from "@seismo/agent-proto";
import type { Logger } from "../logger.js";
import type { ArmRequest, ThrownReport } from "./captures.js";
import { redactFrame } from "./captures.js";
import { redactString } from "./redaction.js";
import type { ThrowSite } from "./throw-site.js";
import { appThrowSite, errorFingerprint, throwSite } from "./throw-site.js";
import { ErrorMemory, errorMemoryKey } from "./error-memory.js";

export interface ErrorWatchSettings {
  /** Snapshots an error probe takes before it disarms (default 1: the next occurrence). */
  hits: number;
  /** An error probe waits this long for the exception to come back (default 1 h). */
  ttlMs: number;
  /** An exception already reported is not reported or armed again for this long (default 1 h). */
  quietMs: number;
  /** At most this many error probes armed at once (default 5). */
  maxArmed: number;
  /** At most this many first occurrences published per minute (default 20): a storm of distinct errors is not a flood of events. */
  maxReportsPerMinute: number;
}

export const DEFAULT_ERROR_WATCH: ErrorWatchSettings = { hits: 1, ttlMs: 3_600_000, quietMs: 3_600_000, maxArmed: 5, maxReportsPerMinute: 20 };

export interface ErrorWatchDeps {
  target: () => TargetRef;
  /** Shared by the daemon's sensors, so that a restarted process is known (default: this watch's own). */
  memory?: ErrorMemory;
  publish: (snapshot: Snapshot) => void;
  /** Arms an error probe (Captures.arm); resolves when armed. */
  arm: (request: ArmRequest) => Promise<unknown>;
  log: Logger;
  now?: () => number;
}

/**
 * Uncaught exceptions, turned into captures at their throw site; and the errors an app's framework
 * handled for a request (Express, Fastify, Koa: they reach the daemon with the request they failed,
 * kept by the HTTP instrument), at the app's own line in their stack.
 *
 * The first occurrence of an exception (its class and throw site) is
 * published at once as a snapshot without locals: the class, the message and
 * the stack, redacted. Its values are gone by then: the stack has unwound. So
 * an error probe is armed at the throw site, and the next time the exception
 * is thrown from there, the values that line ran with are published with it.
 * No pause is involved either time (see capture-script.ts).
 *
 * Each exception is handled once per `quietMs`, across the processes of a
 * service and deployment the daemon attaches to (see ErrorMemory); a process
 * attached after an exception was reported gets its probe at once (rearm).
 * At most `maxArmed` error probes at once, and `maxReportsPerMinute` first
 * occurrences a minute.
 */
export class ErrorWatch {
  private readonly settings: ErrorWatchSettings;
  private readonly memory: ErrorMemory;
  private readonly armedUntil = new Map<string, number>();
  private reports: number[] = [];
  private counter = 0;
  private readonly now: () => number;

  constructor(
    private readonly deps: ErrorWatchDeps,
    settings: Partial<ErrorWatchSettings> = {},
  ) {
    this.settings = { ...DEFAULT_ERROR_WATCH, ...settings };
    this.now = deps.now ?? Date.now;
    this.memory = deps.memory ?? new ErrorMemory();
  }

  private get key(): string {
    return errorMemoryKey(this.deps.target());
  }

  /**
   * Arms the probes of exceptions reported by an earlier process of this service and deployment
   * whose values were not captured yet: most often, the process they killed. Call once the
   * exception watch is installed.
   */
  async rearm(): Promise<number> {
    const now = this.now();
    let armed = 0;
    for (const error of this.memory.awaitingCapture(this.key, now)) {
      const site = error.site as ThrowSite;
      if (!(await this.armAt(site, error.trigger, error.text, now, error.captureUntilMs - now))) continue;
      armed++;
      this.deps.log.info(`armed a capture at ${site.file}:${site.line} for ${error.text.slice(0, 120)}, reported by an earlier process`);
    }
    return armed;
  }

  /** A snapshot this target published: an error probe's hit means that exception's values are in. */
  onSnapshot(snapshot: Snapshot): void {
    if (snapshot.hit > 0 && snapshot.trigger.startsWith("error:")) this.memory.captured(this.key, snapshot.trigger);
  }

  /** The trigger its snapshots carry ("error:<fingerprint>"): what links a kept request's error to them. */
  triggerOf(thrown: Pick<ThrownReport, "name" | "stack" | "origin">): string {
    return `error:${errorFingerprint(thrown.name, siteOf(thrown))}`;
  }

  /** One uncaught exception (or an error a request's framework handled) that no error probe captured. */
  onThrown(thrown: ThrownReport): void {
    const now = this.now();
    const site = siteOf(thrown);
    const fingerprint = errorFingerprint(thrown.name, site);
    const key = this.key;
    if ((this.memory.get(key, fingerprint)?.quietUntilMs ?? 0) > now) return;
    this.reports = this.reports.filter((at) => at > now - 60_000);
    if (this.reports.length >= this.settings.maxReportsPerMinute) return;
    this.reports.push(now);

    const trigger = `error:${fingerprint}`;
    const text = redactString(`${thrown.name}: ${thrown.message}`);
    this.memory.remember(
      key,
      { fingerprint, trigger, text, site, quietUntilMs: now + this.settings.quietMs, captureUntilMs: now + this.settings.ttlMs, captured: false },
      now,
    );
    this.deps.publish(this.firstOccurrence(thrown, site, trigger, text));
    const what = thrown.origin === "handled" ? "error handled by the app's framework" : thrown.origin === "unhandledRejection" ? "unhandled rejection" : "uncaught exception";
    this.deps.log.info(`${what} ${text.slice(0, 200)}${site ? ` at ${site.file}:${site.line}` : ""}`);
    if (site) void this.armAt(site, trigger, text, now);
  }

  /** True when armed. */
  private async armAt(site: ThrowSite, trigger: string, text: string, now: number, ttlMs = this.settings.ttlMs): Promise<boolean> {
    for (const [key, until] of this.armedUntil) if (until <= now) this.armedUntil.delete(key);
    if (this.armedUntil.size >= this.settings.maxArmed) {
      this.deps.log.info(`not arming a capture at ${site.file}:${site.line}: ${this.settings.maxArmed} exception captures are armed already`);
      return false;
    }
    this.armedUntil.set(trigger, now + ttlMs);
    try {
      // At the column the stack gives: on `if (bad) throw new X()`, the breakpoint is on the `new X()`
      // and traps only when it throws, not on every run of the line.
      await this.deps.arm({ trigger, file: site.file, line: site.line, column: site.column, hits: this.settings.hits, ttlMs, error: text });
      return true;
    } catch (error) {
      this.armedUntil.delete(trigger);
      // Most often the process is exiting: Node ends it on an uncaught exception unless the app handles them.
      this.deps.log.warn(`no capture armed at ${site.file}:${site.line} for the exception's next occurrence (is the process exiting?): ${describeError(error)}`);
      return false;
    }
  }

  private firstOccurrence(thrown: ThrownReport, site: ThrowSite | undefined, trigger: string, text: string): Snapshot {
    const target = this.deps.target();
    return {
      target,
      probeId: `${target.targetId}:thrown-${++this.counter}`,
      trigger,
      file: site?.file ?? "",
      line: site?.line ?? 0,
      column: site ? site.column - 1 : 0,
      functionName: site?.functionName ?? "",
      capturedAtMs: thrown.at,
      hit: 0,
      last: false,
      stack: thrown.stack.slice(0, 10).map(redactFrame),
      locals: [],
      thisValue: null,
      captureCostUs: 0,
      error: text,
    };
  }
}

/** Where an exception is placed: its throw site; for an error the app's framework handled, the app's own line. */
function siteOf(thrown: Pick<ThrownReport, "stack" | "origin">): ThrowSite | undefined {
  return thrown.origin === "handled" ? appThrowSite(thrown.stack) : throwSite(thrown.stack);
}
