/**
 * In the target: who is using the inspector Seismo talks to, so that the last one out closes it
 * again when it was closed before Seismo came. Each Seismo sensor (a daemon's, `seismo capture`'s)
 * holds a lease under its own name and renews it with every heartbeat; a daemon that dies
 * (SIGKILL, a frozen host) stops renewing, and once no lease is left the target closes the
 * inspector itself. Nothing here blocks: Node's close ends every session at once (checked on 20,
 * 22 and 24: a second debugger session is disconnected, the main thread is not held).
 */

export interface LeaseSettings {
  key: string;
  holder: string;
  /** Renewed with every heartbeat; a few missed heartbeats mean the holder is gone. */
  leaseMs: number;
  /** How often the target looks for expired leases. */
  checkEveryMs: number;
  /** True when this holder opened the inspector (SIGUSR1): then it is closed when the last lease ends. */
  openedBySeismo: boolean;
}

export interface LeaseState {
  holders: number;
  openedBySeismo: boolean;
}

export interface ReleaseResult extends LeaseState {
  /** The inspector is being closed (in the next turn of the event loop, after this answer). */
  closing: boolean;
}

/**
 * Node's way to close the inspector: inspector.close(), or process._debugEnd() where
 * process.getBuiltinModule is missing (Node before 20.16). Sent as a library to the functions below.
 */
export function inspectorCloser(): (() => void) | undefined {
  const target = process as NodeJS.Process & { _debugEnd?: () => void; getBuiltinModule?: (id: string) => unknown };
  const inspector = target.getBuiltinModule?.("node:inspector") as { close?: () => void } | undefined;
  return inspector?.close ?? target._debugEnd;
}

interface Leases {
  holders: Map<string, number>;
  openedBySeismo: boolean;
  timer: ReturnType<typeof setInterval>;
}

/** Takes or renews `holder`'s lease; the first one starts the check for expired leases. */
export function holdInspector(settings: LeaseSettings, close: (() => void) | undefined): LeaseState {
  const slot = Symbol.for(settings.key);
  const registry = globalThis as unknown as Record<symbol, Leases | undefined>;
  let leases = registry[slot];
  if (!leases) {
    const created: Leases = {
      holders: new Map(),
      openedBySeismo: false,
      timer: setInterval(() => {
        const now = Date.now();
        for (const [holder, expires] of created.holders) if (expires < now) created.holders.delete(holder);
        if (created.holders.size > 0) return;
        clearInterval(created.timer);
        if (registry[slot] === created) delete registry[slot];
        if (created.openedBySeismo) close?.();
      }, settings.checkEveryMs),
    };
    created.timer.unref();
    Object.defineProperty(registry, slot, { value: created, configurable: true, enumerable: false, writable: true });
    leases = created;
  }
  leases.holders.set(settings.holder, Date.now() + settings.leaseMs);
  // Once any Seismo opened it, it stays Seismo's to close: a second sensor that found it open
  // (opened by the first a moment before) does not make it the app's.
  leases.openedBySeismo ||= settings.openedBySeismo;
  return { holders: leases.holders.size, openedBySeismo: leases.openedBySeismo };
}

/**
 * Ends `holder`'s lease; when it was the last and Seismo opened the inspector, closes it once this
 * answer has left (closing from inside the evaluation would cut the answer off).
 */
export function releaseInspector(settings: { key: string; holder: string }, close: (() => void) | undefined): ReleaseResult {
  const slot = Symbol.for(settings.key);
  const registry = globalThis as unknown as Record<symbol, Leases | undefined>;
  const leases = registry[slot];
  if (!leases) return { holders: 0, openedBySeismo: false, closing: false };
  leases.holders.delete(settings.holder);
  const holders = leases.holders.size;
  if (holders > 0) return { holders, openedBySeismo: leases.openedBySeismo, closing: false };
  clearInterval(leases.timer);
  delete registry[slot];
  if (!leases.openedBySeismo) return { holders, openedBySeismo: false, closing: false };
  if (!close) return { holders, openedBySeismo: true, closing: false };
  // Not at once: closing while Node's inspector thread still writes to a WebSocket (this answer,
  // the daemon's last messages) crashed the target with SIGSEGV after detach, about once in 20
  // (Node 20 and 22, the class of nodejs/node#34833). The daemon closes its sessions right after
  // this answer and waits up to 2 s for the port to go; 250 ms later there is nothing in flight.
  setTimeout(close, 250).unref();
  return { holders, openedBySeismo: true, closing: true };
}

/**
 * Closes the inspector, whoever holds it, 250 ms after this answer: for one that opened beyond
 * loopback, never to be used. (At the next turn, as it was, the target died with SIGSEGV in 2 of
 * 30 tries on a busy machine: the crash releaseInspector waits out, the same 250 ms.)
 */
export function closeInspectorSoon(_settings: null, close: (() => void) | undefined): boolean {
  if (!close) return false;
  setTimeout(close, 250).unref();
  return true;
}
