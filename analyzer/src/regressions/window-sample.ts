import type { AttributionSamples } from "../query/attribution-marks.js";

export interface WindowSample {
  /** The process the window came from: windows of one process are not independent of each other. */
  group?: string;
  cpuUs: number;
  /** Self time per stable function key, µs. */
  selfUs: Map<string, number>;
  /** Total (inclusive) time per stable function key, µs. */
  totalUs: Map<string, number>;
}

export interface FunctionInfo {
  name: string;
  file: string;
  line: number;
  package: string | null;
  packageVersion: string | null;
  /** Over the windows compared: how many of its samples Seismo inferred (see query/attribution-marks.ts). */
  attribution?: AttributionSamples;
}
