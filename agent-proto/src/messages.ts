/**
 * TypeScript shapes of the v1 messages, as protobufjs presents them (camelCase,
 * 64-bit integers as numbers, absent scalars as their defaults). Kept by hand in
 * step with proto/seismo/v1/events.proto; the golden round-trip test fails when
 * the two drift apart.
 */

export interface TargetRef {
  targetId: string;
  daemonId: string;
  service: string;
  deployment: string;
  pid: number;
  host: string;
  pod: string;
  namespace: string;
}

export interface Hello {
  target: TargetRef;
  nodeVersion: string;
  v8Version: string;
  processStartMs: number;
  attachedAtMs: number;
  argv: string[];
  seismoVersion: string;
  samplingIntervalUs: number;
  windowMs: number;
}

export interface Heartbeat {
  target: TargetRef;
  sentAtMs: number;
  windowsPublished: number;
  publishFailures: number;
  messagesDropped: number;
  messagesBuffered: number;
  targetCpu: number;
  targetRssBytes: number;
}

export type GoodbyeReason = "REASON_UNSPECIFIED" | "TARGET_EXITED" | "DAEMON_STOPPED" | "CONNECTION_LOST";

export interface Goodbye {
  target: TargetRef;
  atMs: number;
  reason: GoodbyeReason;
  /** What the sensor did with the target's inspector, and anything else worth telling. */
  detail: string;
  /** The detail is a warning: the inspector Seismo opened was left open, or closing it cut off a debugger that was not Seismo's. */
  inspectorWarning: boolean;
}

export interface HotLine {
  line: number;
  samples: number;
}

/** Where a function's code is: the script V8 loaded, its file, and the npm package it belongs to ("" for the app). */
export interface CodePlace {
  scriptUrl: string;
  filePath: string;
  /** 1-based; 0 when V8 gives none. */
  line: number;
  column: number;
  packageName: string;
  packageVersion: string;
}

export interface FunctionStat extends CodePlace {
  name: string;
  selfSamples: number;
  totalSamples: number;
  selfUs: number;
  totalUs: number;
  hotLines: HotLine[];
  /** Seismo's inference: self samples V8 charged to a caller (inlined code) that the daemon moved here; absent from older daemons. */
  inlinedSamples: number;
  /** Self samples left here that may be inlined code of `inlineCandidates` (their lines fit several functions). */
  uncertainSamples: number;
  /** "name (file:line)" of what the uncertain samples may be. */
  inlineCandidates: string[];
  /** Where V8 ran it when a source map placed it at its original file (above); "" and 0 without a map. */
  generatedFile: string;
  generatedLine: number;
  generatedColumn: number;
  /** For a native function: "name (file:line)" of the JavaScript function that called it; "" otherwise. */
  calledBy: string;
}

export interface ProfileWindow {
  windowId: string;
  target: TargetRef;
  sequence: number;
  startMs: number;
  endMs: number;
  samplingIntervalUs: number;
  totalSamples: number;
  cpuUs: number;
  idleUs: number;
  gcUs: number;
  programUs: number;
  functions: FunctionStat[];
  truncatedFunctions: number;
  /** Sampled time inside Seismo's own window rotation (not the app's), µs. */
  sensorUs: number;
  /** HTTP requests answered during the window, per method, route and status; absent (or empty) from daemons before the field. */
  endpoints?: EndpointStat[];
  /** HTTP calls the target made (node:http, fetch/undici), per method, host, route and status; absent from older daemons. */
  outgoing?: EndpointStat[];
  /** Database queries (pg, mysql2): method = first keyword, route = statement digest, host = database, status 0 ok / 1 failed. */
  queries?: EndpointStat[];
  /** Failed or slow requests not kept as exemplars during the window (over the rate limits); absent from older daemons. */
  requestsNotKept?: number;
}

/** Requests of one method, route and status in one window, timed inside the target from request start to response finish. */
export interface EndpointStat {
  method: string;
  /** The framework's route template when known (`routeTemplate`), else the path with id-like segments as ":id"; "(other)" past the cap. */
  route: string;
  status: number;
  count: number;
  totalMs: number;
  maxMs: number;
  /** Sparse latency histogram (see latency.ts): bucketCounts[i] requests in bucket bucketIndexes[i]. */
  bucketIndexes: number[];
  bucketCounts: number[];
  routeTemplate: boolean;
  /** Outgoing calls: the destination host[:port]; "" for the target's own endpoints. */
  host: string;
  /** Under heavy traffic, one request in this many was timed and the figures are scaled up by it; absent or 0 or 1: every one. */
  sampledEvery?: number;
}

export interface LineCalls {
  line: number;
  builtins: string[];
}

export interface ProfileFrame extends CodePlace {
  functionName: string;
  scriptId: string;
  lineCalls: LineCalls[];
  /** Where V8 ran it when a source map placed it at its original file; "" and 0 without a map. */
  generatedFile: string;
  generatedLine: number;
  generatedColumn: number;
}

export interface ProfileNode {
  id: number;
  /** 0 for the root. */
  parentId: number;
  /** Index into BurstProfile.frames. */
  frame: number;
  positionTicks: HotLine[];
  /** Seismo's inference: a call the daemon inferred (inlined code), not in V8's tree. */
  synthetic: boolean;
  /** Self samples moved here from the caller V8 charged them to. */
  inlinedSamples: number;
  /** Self samples left here that may be inlined code of `candidateFrames`. */
  uncertainSamples: number;
  /** Indexes into BurstProfile.frames. */
  candidateFrames: number[];
}

export interface BurstProfile {
  frames: ProfileFrame[];
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTimeUs: number;
  endTimeUs: number;
}

export type SpikeTrigger = "TRIGGER_UNSPECIFIED" | "CPU" | "LOOP_DELAY" | "LOOP_BLOCKED";

export interface Spike {
  spikeId: string;
  target: TargetRef;
  trigger: SpikeTrigger;
  onsetMs: number;
  detectedMs: number;
  burstStartMs: number;
  burstEndMs: number;
  /** 0 while the spike is still going. */
  endedMs: number;
  peakCpu: number;
  baselineCpu: number;
  peakLoopDelayMs: number;
  baselineLoopDelayMs: number;
  maxStallMs: number;
  samplingIntervalUs: number;
  /** Absent (null once decoded) on the end-of-spike update and when the burst failed. */
  profile?: BurstProfile | null;
  burstError: string;
}

export interface CapturedValue {
  name: string;
  type: string;
  value: string;
  children: CapturedValue[];
  /** "depth", "fields", "items", "length", "bytes", "time", "redacted", or "" when whole. */
  truncated: string;
  omitted: number;
}

export interface Snapshot {
  target: TargetRef;
  probeId: string;
  /** An incident id, "manual", or "error:<fingerprint>" for an exception's throw site. */
  trigger: string;
  file: string;
  line: number;
  column: number;
  functionName: string;
  capturedAtMs: number;
  hit: number;
  last: boolean;
  stack: string[];
  locals: CapturedValue[];
  /** Absent (null once decoded) when the frame had no object `this`. */
  thisValue?: CapturedValue | null;
  captureCostUs: number;
  /** "<class>: <message>" when an exception armed it (redacted); "" or absent otherwise. */
  error?: string;
}

/** One query or outgoing call of a kept request. */
export interface RequestStep {
  kind: "query" | "call";
  offsetMs: number;
  /** -1: still running as the response ended. */
  durationMs: number;
  statement: string;
  database: string;
  method: string;
  host: string;
  path: string;
  status: number;
  /** -1: the driver did not say. */
  rows: number;
  errorCode: string;
  errorMessage: string;
}

export interface RequestError {
  type: string;
  message: string;
  code: string;
  stack: string[];
  appFrame: string;
  handledBy: string;
  /** "error:<fingerprint>": its snapshots' trigger; "" when the daemon captures no errors. */
  captureTrigger: string;
}

/** A served request that failed or was slow, with what it did (tail-based: the rest leave nothing). */
export interface RequestExemplar {
  requestId: string;
  target: TargetRef;
  startedAtMs: number;
  method: string;
  route: string;
  routeTemplate: boolean;
  status: number;
  durationMs: number;
  /** "aborted": its connection closed before its response ended (the client gave up, or a reset); status 0 when no headers were sent. */
  keptBecause: "error" | "status" | "slow" | "aborted";
  slowThresholdMs: number;
  /** Absent (null once decoded) when the request had none. */
  params?: CapturedValue | null;
  query?: CapturedValue | null;
  headers?: CapturedValue | null;
  body?: CapturedValue | null;
  steps: RequestStep[];
  stepsLeftOut: number;
  error?: RequestError | null;
}

/** The kinds of event, as they appear in the subject and the oneof. */
export const EventKinds = ["hello", "heartbeat", "goodbye", "profile", "spike", "snapshot", "request"] as const;
export type EventKind = (typeof EventKinds)[number];

interface EventBodies {
  hello: Hello;
  heartbeat: Heartbeat;
  goodbye: Goodbye;
  profile: ProfileWindow;
  spike: Spike;
  snapshot: Snapshot;
  request: RequestExemplar;
}

/** A decoded event: exactly one body, named by `kind`. */
export type SeismoEvent = {
  [K in EventKind]: { kind: K; sentAtMs: number; body: EventBodies[K] };
}[EventKind];

export function isEventKind(value: string): value is EventKind {
  return (EventKinds as readonly string[]).includes(value);
}
