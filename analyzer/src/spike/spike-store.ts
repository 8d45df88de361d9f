import { gunzipSync, gzipSync } from "node:zlib";
import type { BurstProfile, Spike } from "@seismo/agent-proto";
import type Database from "better-sqlite3";
import type { CpuSpikeDetails } from "../incidents/incident.js";
import { incidentId } from "../incidents/incident-id.js";
import { spikeSummary } from "../incidents/incident.js";
import type { Db } from "../store/database.js";
import type { Traffic } from "./spike-baseline.js";
import { countWindowsAfter, loadBaseline, loadBurstWindows, loadFollowing, loadTargetTraffic, loadTargetTrafficBefore, loadTargetTrafficStarting, loadWindowsTraffic, mergeBaselines, MIN_BASELINE_CPU_US } from "./spike-baseline.js";
import type { Baseline, SpikeAnalysis } from "./culprits.js";
import { analyzeSpike, DEFAULT_ANALYSIS_SETTINGS } from "./culprits.js";
import { judgeArrival, judgeLoad } from "./load-change.js";

export type SpikeOutcome =
  | { kind: "duplicate" }
  | { kind: "updated"; incidentId: string | undefined }
  | { kind: "stored"; analysis: SpikeAnalysis | undefined; incidentId: string | undefined };

/** How far back the baseline reaches before a spike's onset: the last busy period, even after a quiet hour. */
const BASELINE_PERIOD_MS = 60 * 60_000;
/** A spike with no busy window before it waits this long at most for busy windows after it... */
const FOLLOWING_WAIT_MS = 10 * 60_000;
/** ...and is judged once this many at a comparable load have come after it ended... */
const MIN_FOLLOWING_WINDOWS = 3;
/** ...or, when this many windows came after it ended and too few of them at that load, as a transient. */
const TRANSIENT_AFTER_WINDOWS = 3;
/** Against a lighter load with no request counts, a culprit is paged only when it held less than this share normally. */
const LIGHTER_CULPRIT_MAX_NORMAL = 0.05;
/** Windows at a comparable load ran at least this fraction of the spike's peak CPU. */
const COMPARABLE_LOAD = 1 / 3;

function comparableCores(spike: Spike): number {
  return spike.peakCpu * COMPARABLE_LOAD;
}

function isEnough(baseline: Baseline): boolean {
  return baseline.windows >= DEFAULT_ANALYSIS_SETTINGS.minBaselineWindows && baseline.cpuUs >= MIN_BASELINE_CPU_US;
}

/** The window the daemon starts at a spike's detection starts within this of it. */
const DETECTION_SLACK_MS = 1_000;
/** The requests just before a spike judged against the windows after it: was the service idle? */
const ARRIVAL_LOOKBACK_MS = 60_000;

const EMPTY_BASELINE: Baseline = { windows: 0, cpuUs: 0, functions: [] };

/**
 * What a spike was judged to be: an incident (paged), load (more of the usual requests: context,
 * never a page), ordinary (the usual shape), or pending (no busy period yet to compare with).
 */
export type SpikeVerdict = "incident" | "load" | "ordinary" | "pending";

interface Judgement {
  verdict: SpikeVerdict;
  reason: string;
  analysis: SpikeAnalysis | undefined;
}

interface PendingRow {
  spike_id: string;
  target_id: string;
  service: string;
  deployment: string;
  trigger: string;
  onset_ms: number;
  detected_ms: number;
  burst_start_ms: number;
  burst_end_ms: number;
  ended_ms: number | null;
  peak_cpu: number;
  baseline_cpu: number;
  peak_loop_delay_ms: number;
  baseline_loop_delay_ms: number;
  max_stall_ms: number;
  sampling_interval_us: number;
  burst_error: string;
  profile: Buffer;
  daemon_id: string | null;
  pid: number | null;
  host: string | null;
  pod: string | null;
  namespace: string | null;
}

/** A stored spike as the message it came in (its profile apart), for its summary and details. */
function spikeOfRow(row: PendingRow): Spike {
  return {
    spikeId: row.spike_id,
    target: {
      targetId: row.target_id,
      daemonId: row.daemon_id ?? "",
      service: row.service,
      deployment: row.deployment,
      pid: row.pid ?? 0,
      host: row.host ?? "",
      pod: row.pod ?? "",
      namespace: row.namespace ?? "",
    },
    trigger: row.trigger as Spike["trigger"],
    onsetMs: row.onset_ms,
    detectedMs: row.detected_ms,
    burstStartMs: row.burst_start_ms,
    burstEndMs: row.burst_end_ms,
    endedMs: row.ended_ms ?? 0,
    peakCpu: row.peak_cpu,
    baselineCpu: row.baseline_cpu,
    peakLoopDelayMs: row.peak_loop_delay_ms,
    baselineLoopDelayMs: row.baseline_loop_delay_ms,
    maxStallMs: row.max_stall_ms,
    samplingIntervalUs: row.sampling_interval_us,
    profile: undefined,
    burstError: row.burst_error,
  };
}

/**
 * Stores spikes and turns the ones with a culprit into cpu_spike incidents,
 * in one transaction: a crash between the two cannot leave a spike without
 * its incident, and a redelivered message changes nothing.
 */
export class SpikeStore {
  private readonly statements: ReturnType<typeof prepare>;

  constructor(private readonly db: Db) {
    this.statements = prepare(db);
  }

  record(spike: Spike, receivedAtMs: number): SpikeOutcome {
    return this.db.transaction((): SpikeOutcome => {
      const known = this.statements.spikeById.get({ spikeId: spike.spikeId }) as { has_profile: number } | undefined;
      if (known) {
        // The end of a spike whose burst we have, or (out of order) the burst after its end.
        if (!spike.profile && spike.endedMs > 0) return { kind: "updated", incidentId: this.recordEnd(spike) };
        if (!spike.profile || known.has_profile) return { kind: "duplicate" };
        this.statements.setProfile.run({ spikeId: spike.spikeId, profile: gzipSync(JSON.stringify(spike.profile)) });
      } else {
        this.statements.insertSpike.run({
          spikeId: spike.spikeId,
          targetId: spike.target.targetId,
          service: spike.target.service,
          deployment: spike.target.deployment,
          trigger: spike.trigger,
          onsetMs: spike.onsetMs,
          detectedMs: spike.detectedMs,
          burstStartMs: spike.burstStartMs,
          burstEndMs: spike.burstEndMs,
          endedMs: spike.endedMs || null,
          peakCpu: spike.peakCpu,
          baselineCpu: spike.baselineCpu,
          peakLoop: spike.peakLoopDelayMs,
          baselineLoop: spike.baselineLoopDelayMs,
          maxStall: spike.maxStallMs,
          intervalUs: spike.samplingIntervalUs,
          profile: spike.profile ? gzipSync(JSON.stringify(spike.profile)) : null,
          burstError: spike.burstError,
          receivedAtMs,
        });
      }
      if (!spike.profile) return { kind: "stored", analysis: undefined, incidentId: undefined };
      const judged = this.judgeOnArrival(spike, spike.profile);
      this.statements.setVerdict.run({ spikeId: spike.spikeId, verdict: judged.verdict, reason: judged.reason });
      if (judged.verdict !== "incident" || !judged.analysis) return { kind: "stored", analysis: judged.analysis, incidentId: undefined };
      return { kind: "stored", analysis: judged.analysis, incidentId: this.openIncident(spike, judged.analysis, judged.reason, receivedAtMs) };
    })();
  }


  /**
   * Judges the spikes that had no window at a comparable load before them, as windows arrive
   * (`nowMs` the newest window's end). Returns the incidents opened. Once the spike is over:
   * against the windows after it at a comparable load when the load stayed (more traffic, or a
   * worker given more jobs, is the new normal and has its shape), else, when the load went back
   * down (a transient), or at the latest FOLLOWING_WAIT_MS after it, against every busy window
   * around it, marked as compared with a lighter load.
   */
  judgePending(nowMs: number): string[] {
    const pending = this.statements.pendingSpikes.all() as PendingRow[];
    const opened: string[] = [];
    for (const row of pending) {
      const id = this.db.transaction((): string | undefined => {
        const waitedOut = nowMs >= row.burst_end_ms + FOLLOWING_WAIT_MS;
        if (row.ended_ms === null && !waitedOut) return undefined;
        const endedMs = row.ended_ms ?? row.burst_end_ms;
        const untilMs = row.burst_end_ms + FOLLOWING_WAIT_MS;
        const spike = spikeOfRow(row);
        const minCores = comparableCores(spike);
        const comparable = loadFollowing(this.db, { service: row.service, afterMs: endedMs, untilMs, minCores });
        const enough = comparable.windows >= MIN_FOLLOWING_WINDOWS && comparable.cpuUs >= MIN_BASELINE_CPU_US;
        const transient = !enough && countWindowsAfter(this.db, row.service, endedMs) >= TRANSIENT_AFTER_WINDOWS;
        if (!enough && !transient && !waitedOut) return undefined;
        const burst = JSON.parse(gunzipSync(row.profile).toString("utf8")) as BurstProfile;
        const before = loadBaseline(this.db, { service: row.service, beforeMs: row.onset_ms, sinceMs: row.onset_ms - BASELINE_PERIOD_MS });
        let judged: Judgement;
        if (enough) {
          judged = this.withLoad(spike, burst, comparable, "after", before);
          judged.reason += ` (Judged against the ${comparable.windows} window(s) at a comparable load after it: there were none before.)`;
        } else {
          const around = mergeBaselines(before, loadFollowing(this.db, { service: row.service, afterMs: endedMs, untilMs }));
          if (isEnough(around)) {
            judged = this.withLoad(spike, burst, around, "lighter", before);
            if (judged.verdict === "incident") judged.reason += ` (Compared with ${around.windows} window(s) at a lighter load, before and after it: a share can also grow with the load alone.)`;
          } else if (!waitedOut) {
            return undefined; // a busy period may still come to compare with
          } else {
            // No busy period to compare with at all (a service that is idle but for this: an hourly
            // batch, the first requests of the day): no culprit claim. A blocked loop was paged on arrival.
            const analysis = analyzeSpike(burst, EMPTY_BASELINE, { loopBlocked: false });
            const text = `Not judged: no busy window within ${BASELINE_PERIOD_MS / 60_000} min before it nor ${FOLLOWING_WAIT_MS / 60_000} min after it to compare its profile with; it is kept (seismo profile can export it).`;
            judged = { verdict: "ordinary", reason: text, analysis: { ...analysis, verdict: "ordinary", reason: text, culprits: [] } };
          }
        }
        this.statements.setVerdict.run({ spikeId: row.spike_id, verdict: judged.verdict, reason: judged.reason });
        if (judged.verdict !== "incident" || !judged.analysis) return undefined;
        return this.openIncident(spike, judged.analysis, judged.reason, nowMs);
      })();
      if (id) opened.push(id);
    }
    return opened;
  }

  private judgeOnArrival(spike: Spike, burst: BurstProfile): Judgement {
    const loopBlocked = spike.trigger === "LOOP_BLOCKED" || spike.maxStallMs >= 1_000;
    const period = { service: spike.target.service, beforeMs: spike.onsetMs, sinceMs: spike.onsetMs - BASELINE_PERIOD_MS };
    // A blocked loop is an incident whatever came before, named against the busy windows.
    if (loopBlocked) {
      const busy = loadBaseline(this.db, period);
      const analysis = analyzeSpike(burst, isEnough(busy) ? busy : EMPTY_BASELINE, { loopBlocked });
      return { verdict: analysis.verdict, reason: analysis.reason, analysis };
    }
    // Anything else needs a period at a comparable load to be compared with: at a lighter one
    // the fixed costs (timers, the runtime, the sensor) hold a larger share, and the work's own
    // functions grow with the load alone (measured: a worker's job function at 39 % of CPU at
    // 40 jobs/s, 93 % at 400: "a far larger share than normal" for more of the same).
    const comparable = loadBaseline(this.db, { ...period, minCores: comparableCores(spike) });
    if (isEnough(comparable)) return this.withLoad(spike, burst, comparable, "before", comparable);
    // Only lighter windows before it: the requests can still tell, at once. Each request costing
    // far more is an incident (named against those windows); more requests at the usual cost are load.
    const lighter = loadBaseline(this.db, period);
    // Requests served while the service was all but idle count too: a cost per request needs no
    // busy CPU behind it (80 requests/s at 0.25 ms each, then a bcrypt loop: 40x the CPU each).
    const counted = isEnough(lighter) ? lighter : loadBaseline(this.db, { ...period, anyLoad: true, maxWindows: 60 });
    const during = this.duringTraffic(spike);
    const judgement = judgeLoad(during, loadWindowsTraffic(this.db, counted.windowIds ?? []));
    if (judgement.kind === "costlier") {
      const text = `${judgement.text} (Compared with ${counted.windows} window(s) at a lighter load before it.)`;
      return { verdict: "incident", reason: text, analysis: { ...analyzeSpike(burst, counted, { loopBlocked: false }), verdict: "incident", reason: text } };
    }
    if (isEnough(lighter)) {
      const shape = analyzeSpike(burst, lighter, { loopBlocked: false, sameMoments: this.sameMoments(spike) });
      // More requests at about the usual cost, but a function that was next to nothing now takes
      // a large share: not load (crafted inputs arriving with the traffic), whatever the load did.
      const top = shape.culprits[0];
      if (shape.verdict === "incident" && top && top.baselineShare < LIGHTER_CULPRIT_MAX_NORMAL) {
        const text = `${shape.reason} (Compared with ${lighter.windows} window(s) at a lighter load before it: ${top.name} held ${(top.baselineShare * 100).toFixed(1)} % of CPU there, so more of the same work does not explain it.)`;
        return { verdict: "incident", reason: text, analysis: { ...shape, reason: text } };
      }
      if (judgement.kind === "load") return { verdict: "load", reason: judgement.text, analysis: shape };
    }
    return {
      verdict: "pending",
      reason: `No window at a comparable load before it (at least ${comparableCores(spike).toFixed(2)} cores, within ${BASELINE_PERIOD_MS / 60_000} min): judged against the windows after it, within ${FOLLOWING_WAIT_MS / 60_000} min.`,
      analysis: undefined,
    };
  }

  /**
   * The shape against `normal`, then the requests: a spike with the usual shape is load when
   * requests rose at the usual CPU each, an incident when each cost far more (against `normal`,
   * and against the lighter windows before it, which hold no attack that carried on after it).
   */
  private withLoad(spike: Spike, burst: BurstProfile, normal: Baseline, side: "before" | "after" | "lighter", before: Baseline): Judgement {
    const analysis = analyzeSpike(burst, normal, { loopBlocked: false, sameMoments: this.sameMoments(spike) });
    const reason = side === "after" ? analysis.reason.replace("than normal", "than in the windows after it") : analysis.reason;
    const during = this.duringTraffic(spike);
    const judgement = judgeLoad(during, loadWindowsTraffic(this.db, normal.windowIds ?? []));
    if (judgement.kind === "costlier") return { verdict: "incident", reason: judgement.text, analysis: { ...analysis, verdict: "incident", reason: judgement.text } };
    if (side !== "before" && isEnough(before)) {
      const earlier = judgeLoad(during, loadWindowsTraffic(this.db, before.windowIds ?? []));
      if (earlier.kind === "costlier") {
        // Against the lighter windows before it, for the functions that grew: what changed.
        const culprits = analyzeSpike(burst, before, { loopBlocked: false });
        const text = `${earlier.text} The windows after it cost as much: what began with the spike carried on.`;
        return { verdict: "incident", reason: text, analysis: { ...culprits, verdict: "incident", reason: text } };
      }
    }
    if (analysis.verdict === "incident") {
      // Against a lighter load with no requests to count (a worker), a function that already did
      // much of the work grows with the load alone: only one that was next to nothing is paged.
      const top = analysis.culprits[0];
      if (side === "lighter" && !judgement.change && top && top.baselineShare >= LIGHTER_CULPRIT_MAX_NORMAL) {
        const text = `${top.name} took ${Math.round(top.share * 100)} % of CPU against ${Math.round(top.baselineShare * 100)} % at a lighter load, with no requests counted to tell more of the same work from slower work: not paged.`;
        return { verdict: "ordinary", reason: text, analysis: { ...analysis, verdict: "ordinary", reason: text, culprits: [] } };
      }
      return { verdict: "incident", reason, analysis };
    }
    if (judgement.kind === "load") return { verdict: "load", reason: judgement.text, analysis };
    if (side !== "before") {
      const earlier = loadTargetTrafficBefore(this.db, spike.target.targetId, spike.onsetMs - ARRIVAL_LOOKBACK_MS, spike.onsetMs);
      const rise = judgeArrival(during, earlier, loadWindowsTraffic(this.db, normal.windowIds ?? []));
      if (rise.kind === "load") return { verdict: "load", reason: rise.text, analysis };
    }
    return { verdict: analysis.verdict, reason, analysis };
  }

  /** The rolling windows over the burst's moments: what the burst's profile is checked against. */
  private sameMoments(spike: Spike): Baseline {
    return loadBurstWindows(this.db, spike.target.targetId, spike.burstStartMs, spike.burstEndMs);
  }

  /**
   * The requests and CPU while the spike lasted: the windows the daemon started at its detection
   * (it ends the current window then, and again when the burst is over). The window that ended at
   * detection began up to a window's length before the onset, mostly normal traffic, and would
   * dilute a cost per request tenfold at 10 s windows; it counts only when no later one is stored.
   */
  private duringTraffic(spike: Spike): Traffic {
    const from = loadTargetTrafficStarting(this.db, spike.target.targetId, spike.detectedMs - DETECTION_SLACK_MS, spike.burstEndMs);
    return from.windows > 0 ? from : loadTargetTraffic(this.db, spike.target.targetId, spike.onsetMs, spike.burstEndMs);
  }

  private openIncident(spike: Spike, analysis: SpikeAnalysis, reason: string, createdAtMs: number): string {
    const id = incidentId("cpu_spike", spike.spikeId);
    this.statements.insertIncident.run({
      id,
      kind: "cpu_spike",
      service: spike.target.service,
      deployment: spike.target.deployment,
      targetId: spike.target.targetId,
      startedAtMs: spike.onsetMs,
      endedAtMs: spike.endedMs || null,
      summary: spikeSummary(spike, analysis),
      culprits: JSON.stringify(analysis.culprits),
      details: JSON.stringify(spikeDetails(spike, { ...analysis, reason })),
      sourceId: spike.spikeId,
      createdAtMs,
    });
    return id;
  }

  /** Deletes spikes and incidents that started before the cutoff. */
  prune(cutoffMs: number): number {
    const spikes = this.statements.pruneSpikes.run({ cutoffMs }).changes;
    this.statements.pruneIncidents.run({ cutoffMs });
    return spikes;
  }

  private recordEnd(spike: Spike): string | undefined {
    this.statements.endSpike.run({
      spikeId: spike.spikeId,
      endedMs: spike.endedMs,
      peakCpu: spike.peakCpu,
      peakLoop: spike.peakLoopDelayMs,
      maxStall: spike.maxStallMs,
    });
    const incident = this.statements.incidentOfSpike.get({ spikeId: spike.spikeId }) as { incident_id: string; details: string } | undefined;
    if (!incident) return undefined;
    const details = JSON.parse(incident.details) as CpuSpikeDetails;
    details.peakCpu = Math.max(details.peakCpu, spike.peakCpu);
    details.peakLoopDelayMs = Math.max(details.peakLoopDelayMs, spike.peakLoopDelayMs);
    details.maxStallMs = Math.max(details.maxStallMs, spike.maxStallMs);
    this.statements.endIncident.run({ id: incident.incident_id, endedAtMs: spike.endedMs, details: JSON.stringify(details) });
    return incident.incident_id;
  }
}

/** The burst profile of a spike, as stored; works on a read-only connection. */
export function loadBurstProfile(db: Db, spikeId: string): BurstProfile | undefined {
  const row = db.prepare("SELECT profile FROM spikes WHERE spike_id = ?").get(spikeId) as { profile: Buffer | null } | undefined;
  return row?.profile ? (JSON.parse(gunzipSync(row.profile).toString("utf8")) as BurstProfile) : undefined;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function spikeDetails(spike: Spike, analysis: SpikeAnalysis): CpuSpikeDetails {
  return {
    trigger: spike.trigger,
    pid: spike.target.pid,
    host: spike.target.host,
    peakCpu: spike.peakCpu,
    baselineCpu: spike.baselineCpu,
    peakLoopDelayMs: spike.peakLoopDelayMs,
    baselineLoopDelayMs: spike.baselineLoopDelayMs,
    maxStallMs: spike.maxStallMs,
    detectedAt: iso(spike.detectedMs),
    burst: {
      startedAt: iso(spike.burstStartMs),
      endedAt: iso(spike.burstEndMs),
      samplingIntervalUs: spike.samplingIntervalUs,
      samples: analysis.samples,
      cpuMs: Math.round(analysis.cpuMs),
      gcShare: analysis.gcShare,
    },
    baselineWindows: analysis.baselineWindows,
    verdictReason: analysis.reason,
    topStacks: analysis.topStacks,
  };
}

function prepare(db: Db) {
  const p = (sql: string): Database.Statement => db.prepare(sql);
  return {
    spikeById: p("SELECT profile IS NOT NULL AS has_profile FROM spikes WHERE spike_id = @spikeId"),
    insertSpike: p(`
      INSERT INTO spikes (spike_id, target_id, service, deployment, trigger, onset_ms, detected_ms, burst_start_ms, burst_end_ms,
        ended_ms, peak_cpu, baseline_cpu, peak_loop_delay_ms, baseline_loop_delay_ms, max_stall_ms, sampling_interval_us,
        profile, burst_error, received_at_ms)
      VALUES (@spikeId, @targetId, @service, @deployment, @trigger, @onsetMs, @detectedMs, @burstStartMs, @burstEndMs,
        @endedMs, @peakCpu, @baselineCpu, @peakLoop, @baselineLoop, @maxStall, @intervalUs, @profile, @burstError, @receivedAtMs)`),
    setProfile: p("UPDATE spikes SET profile = @profile WHERE spike_id = @spikeId"),
    setVerdict: p("UPDATE spikes SET verdict = @verdict, verdict_reason = @reason WHERE spike_id = @spikeId"),
    pendingSpikes: p(`
      SELECT s.spike_id, s.target_id, s.service, s.deployment, s.trigger, s.onset_ms, s.detected_ms, s.burst_start_ms, s.burst_end_ms,
        s.ended_ms, s.peak_cpu, s.baseline_cpu, s.peak_loop_delay_ms, s.baseline_loop_delay_ms, s.max_stall_ms, s.sampling_interval_us,
        s.burst_error, s.profile, t.daemon_id, t.pid, t.host, t.pod, t.namespace
      FROM spikes s LEFT JOIN targets t ON t.target_id = s.target_id
      WHERE s.verdict = 'pending' AND s.profile IS NOT NULL ORDER BY s.onset_ms LIMIT 20`),
    endSpike: p(`
      UPDATE spikes SET ended_ms = @endedMs, peak_cpu = MAX(peak_cpu, @peakCpu), peak_loop_delay_ms = MAX(peak_loop_delay_ms, @peakLoop),
        max_stall_ms = MAX(max_stall_ms, @maxStall)
      WHERE spike_id = @spikeId`),
    incidentOfSpike: p("SELECT incident_id, details FROM incidents WHERE kind = 'cpu_spike' AND source_id = @spikeId"),
    endIncident: p("UPDATE incidents SET ended_at_ms = @endedAtMs, details = @details WHERE incident_id = @id"),
    insertIncident: p(`
      INSERT INTO incidents (incident_id, kind, service, deployment, target_id, started_at_ms, ended_at_ms, summary, culprits,
        details, source_id, created_at_ms)
      VALUES (@id, @kind, @service, @deployment, @targetId, @startedAtMs, @endedAtMs, @summary, @culprits, @details, @sourceId, @createdAtMs)
      ON CONFLICT(incident_id) DO NOTHING`),
    pruneSpikes: p("DELETE FROM spikes WHERE onset_ms < @cutoffMs"),
    pruneIncidents: p("DELETE FROM incidents WHERE started_at_ms < @cutoffMs"),
  };
}
