import { LATENCY_BUCKETS_PER_DOUBLING, LATENCY_MAX_BUCKET, LATENCY_MIN_MS } from "@seismo/agent-proto";

/** What every in-target probe is configured with. */
export interface ProbeSettings {
  /** Distinct entries kept per window; past it, what comes counts under "(other)". */
  maxEntries: number;
  /** The probe removes itself at the first event after nobody has read it for this long (a daemon killed with SIGKILL). */
  abandonedAfterMs: number;
}

/**
 * JavaScript that the in-target probes share, interpolated into each probe's script (they run in
 * the app, so they cannot import): loading a built-in module, one aggregate entry with its
 * log-scale latency histogram (agent-proto latency.ts), adding a latency to it, and the tuple a
 * read returns for it (parsed by parseProbeEntries).
 */
export const IN_TARGET_AGGREGATES = `
  const load = (name) => (process.getBuiltinModule ? process.getBuiltinModule(name) : process.mainModule.require(name));
  const newEntry = (method, route, host, status, template) => ({ method, route, host, status, template, count: 0, totalMs: 0, maxMs: 0, buckets: new Uint32Array(${LATENCY_MAX_BUCKET + 1}) });
  // weight: how many requests this one stands for (1, or N when one in N is timed).
  const addLatency = (entry, ms, weight) => {
    entry.count += weight;
    entry.totalMs += ms * weight;
    if (ms > entry.maxMs) entry.maxMs = ms;
    entry.buckets[ms > ${LATENCY_MIN_MS} ? Math.min(${LATENCY_MAX_BUCKET}, Math.ceil(Math.log2(ms / ${LATENCY_MIN_MS}) * ${LATENCY_BUCKETS_PER_DOUBLING})) : 0] += weight;
  };
  const toTuple = (e) => {
    const indexes = [];
    const counts = [];
    e.buckets.forEach((count, bucket) => {
      if (count > 0) {
        indexes.push(bucket);
        counts.push(count);
      }
    });
    return [e.method, e.route, e.status, e.template, e.count, e.totalMs, e.maxMs, indexes, counts, e.host];
  };`;
