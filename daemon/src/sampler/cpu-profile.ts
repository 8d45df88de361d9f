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
}

export interface CpuProfile {
  nodes: ProfileNode[];
  /** Microseconds, monotonic clock of the target. */
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}
