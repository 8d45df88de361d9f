import type { ThrowSite } from "./throw-site.js";

/** An uncaught exception the daemon has reported, and whether its values have been captured since. */
export interface RememberedError {
  fingerprint: string;
  trigger: string;
  /** "RangeError: …", redacted. */
  text: string;
  site: ThrowSite | undefined;
  /** Not reported again before this. */
  quietUntilMs: number;
  /** The error probe waits for the exception until this. */
  captureUntilMs: number;
  captured: boolean;
}

/**
 * What the daemon knows of the uncaught exceptions of each service and
 * deployment, across the processes it attaches to. An app that an exception
 * kills is restarted by its supervisor and attached again: without this, its
 * exception would be reported anew by every process, and the error probe,
 * armed in the process that died, would die with it. With it, the new process
 * gets the probe as soon as it is attached, so the crash's next occurrence is
 * captured with its values (the probe publishes them from the process's
 * last moments, as the first report is). Keyed by deployment too: a new
 * deployment may have moved the throwing line, or fixed it. In memory only,
 * bounded per key.
 */
export class ErrorMemory {
  private readonly byKey = new Map<string, Map<string, RememberedError>>();

  constructor(private readonly maxPerKey = 100) {}

  get(key: string, fingerprint: string): RememberedError | undefined {
    return this.byKey.get(key)?.get(fingerprint);
  }

  remember(key: string, error: RememberedError, nowMs: number): void {
    let errors = this.byKey.get(key);
    if (!errors) this.byKey.set(key, (errors = new Map()));
    for (const [fingerprint, known] of errors) if (known.quietUntilMs <= nowMs && known.captureUntilMs <= nowMs) errors.delete(fingerprint);
    errors.set(error.fingerprint, error);
    // The oldest first (insertion order): a storm of distinct errors cannot grow this without bound.
    while (errors.size > this.maxPerKey) errors.delete(errors.keys().next().value as string);
  }

  /** The probe for this trigger took its snapshot: no process needs it armed again. */
  captured(key: string, trigger: string): void {
    for (const error of this.byKey.get(key)?.values() ?? []) if (error.trigger === trigger) error.captured = true;
  }

  /** Exceptions whose values are still wanted: a newly attached process of this key gets their probes. */
  awaitingCapture(key: string, nowMs: number): RememberedError[] {
    return [...(this.byKey.get(key)?.values() ?? [])].filter((e) => !e.captured && e.site !== undefined && e.captureUntilMs > nowMs);
  }
}

/** The memory's key for a target: its service and deployment. */
export function errorMemoryKey(target: { service: string; deployment: string }): string {
  return `${target.service}\u0000${target.deployment}`;
}
