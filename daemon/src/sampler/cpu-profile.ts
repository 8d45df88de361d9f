/**
 * The subset of the Chrome DevTools Protocol's Profiler.Profile that Seismo reads.
 * Declared here (not imported from devtools-protocol) so recorded fixtures and
 * the pure aggregation code need nothing but plain JSON.
 */
export interface CallFrame {
  functionName: string;
  scriptId: string;
  url: string;
  /** 0-based. */
  lineNumber: number;
  /** 0-based. */
  columnNumber: number;
}

export interface PositionTick {
  /** 1-based source line. */
  line: number;
  ticks: number;
}

export interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
  positionTicks?: PositionTick[];
  /** Seismo's inference, never V8's (see attribution/deinline.ts); absent on nodes as V8 gave them. */
  attribution?: NodeAttribution;
}

/** What de-inlining changed on a node, so that every surface can tell inference from measurement. */
export interface NodeAttribution {
  /** The node is not in V8's tree: Seismo inferred an inlined call and added it. */
  synthetic: boolean;
  /** Self samples moved here from the caller V8 charged them to (code inlined into it). */
  inlinedSamples: number;
  /** Self samples left here that may be inlined code of `candidates`: their lines cannot tell. */
  uncertainSamples: number;
  candidates: CallFrame[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  /** Microseconds, monotonic clock of the target. */
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}
