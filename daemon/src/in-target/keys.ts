/**
 * The names of what Seismo installs in a target, each on globalThis under Symbol.for(name)
 * (non-enumerable, so the app never sees it in a listing). The version is part of the name: a
 * daemon never reuses what an older one left behind with another shape; that one removes
 * itself once nobody reads it.
 */
// The HTTP and database instruments were first called probes: their keys keep those names, so that
// a daemon still finds (and reuses) what an earlier one installed.
export const IN_TARGET_KEYS = {
  /** v2: reads return server and client entries. v3: and the requests kept (request-forensics.ts). */
  httpInstrument: "seismo.httpProbe.v3",
  /** The steps of the request being served, where the database instrument adds its queries. */
  requestSteps: "seismo.requestSteps.v1",
  /** v2: adds each query to the steps of the request being served. */
  dbInstrument: "seismo.dbProbe.v2",
  /** Marks a pg Client.prototype.query wrapped by the database instrument. */
  dbInstrumentPatched: "seismo.dbProbe.patched",
  /** Marks a Koa Application.prototype.createContext wrapped by the HTTP instrument. */
  httpInstrumentPatched: "seismo.httpProbe.patched",
  loopMonitor: "seismo.loopMonitor.v1",
  /**
   * v2: long strings come with a redaction margin (k), Buffers as text, header lists redacted by name.
   * v3: snapshots and removals are queued for the daemon to fetch (drain), not pushed.
   */
  capture: "seismo.capture.v3",
  /** Who holds the inspector, and whether Seismo opened it (in-target/inspector-lease.ts). */
  inspectorLease: "seismo.inspectorLease.v1",
} as const;

export type InTargetKey = (typeof IN_TARGET_KEYS)[keyof typeof IN_TARGET_KEYS];
