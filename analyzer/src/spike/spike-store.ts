import { gunzipSync, gzipSync } from "node:zlib";
import type { BurstProfile, Spike } from "@seismo/agent-proto";
import type Database from "better-sqlite3";
import type { CpuSpikeDetails } from "../incidents/incident.js";
import { incidentId } from "../incidents/incident-id.js";
import { spikeSummary } from "../incidents/incident.js";
import type { Db } from "../store/database.js";
import { loadBaseline } from "./spike-baseline.js";
import type { SpikeAnalysis } from "./culprits.js";
import { analyzeSpike } from "./culprits.js";

export type SpikeOutcome =
  | { kind: "duplicate" }
  | { kind: "updated"; incidentId: string | undefined }
  | { kind: "stored"; analysis: SpikeAnalysis | undefined; incidentId: string | undefined };

/** How far back the baseline reaches before a spike's onset. */
const BASELINE_PERIOD_MS = 15 * 60_000;

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

      const baseline = loadBaseline(this.db, { service: spike.target.service, beforeMs: spike.onsetMs, sinceMs: spike.onsetMs - BASELINE_PERIOD_MS });
      const analysis = analyzeSpike(spike.profile, baseline, { loopBlocked: spike.trigger === "LOOP_BLOCKED" || spike.maxStallMs >= 1_000 });
      this.statements.setVerdict.run({ spikeId: spike.spikeId, verdict: analysis.verdict, reason: analysis.reason });
      if (analysis.verdict !== "incident") return { kind: "stored", analysis, incidentId: undefined };

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
        details: JSON.stringify(spikeDetails(spike, analysis)),
        sourceId: spike.spikeId,
        createdAtMs: receivedAtMs,
      });
      return { kind: "stored", analysis, incidentId: id };
    })();
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
