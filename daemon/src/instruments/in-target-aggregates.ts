import { LATENCY_BUCKETS_PER_DOUBLING, LATENCY_MAX_BUCKET, LATENCY_MIN_MS } from "@seismo/agent-proto";
import { inTargetAggregates } from "../in-target/aggregates.js";
import type { InTargetCall } from "../in-target/script.js";
import { inTargetCall } from "../in-target/script.js";

/** What every in-target instrument is configured with. */
export interface InstrumentSettings {
  /** Distinct entries kept per window; past it, what comes counts under "(other)". */
  maxEntries: number;
  /** The instrument removes itself at the first event after nobody has read it for this long (a daemon killed with SIGKILL). */
  abandonedAfterMs: number;
}

/** The aggregates the in-target instruments share (in-target/aggregates.ts), with agent-proto's latency scale. */
export const AGGREGATES: InTargetCall = inTargetCall(inTargetAggregates, { minMs: LATENCY_MIN_MS, bucketsPerDoubling: LATENCY_BUCKETS_PER_DOUBLING, maxBucket: LATENCY_MAX_BUCKET });
