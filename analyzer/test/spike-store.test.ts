import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BurstProfile, ProfileWindow, Spike } from "@seismo/agent-proto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { functionStat, sampleEvents } from "../../agent-proto/test/sample-events.js";
import type { Db } from "../src/store/database.js";
import { getIncident, incidentProfile, listIncidents } from "../src/query/incidents.js";
import { openDatabase } from "../src/store/database.js";
import { EventStore } from "../src/store/event-store.js";

const window = sampleEvents.profile.body as ProfileWindow;
const sampleSpike = sampleEvents.spike.body as Spike;

function recordedBurst(kind: string): BurstProfile {
  const path = join(import.meta.dirname, "..", "..", "test", "fixtures", "profiles", `spike-${kind}.json`);
  return (JSON.parse(readFileSync(path, "utf8")) as { burst: BurstProfile }).burst;
}

function spike(n: number, onsetMs: number, kind: string, overrides: Partial<Spike> = {}): Spike {
  return {
    ...sampleSpike,
    spikeId: `${window.target.targetId}:spike:${n}`,
    trigger: "CPU",
    onsetMs,
    detectedMs: onsetMs + 1_000,
    burstStartMs: onsetMs + 1_050,
    burstEndMs: onsetMs + 3_050,
    endedMs: 0,
    maxStallMs: 0,
    profile: recordedBurst(kind),
    ...overrides,
  };
}

/** The recorded service's normal windows (15 one-second windows), whose shape usualWindow repeats. */
const recorded = JSON.parse(readFileSync(join(import.meta.dirname, "..", "..", "test", "fixtures", "profiles", "spike-traffic.json"), "utf8")) as {
  baseline: { cpuUs: number; functions: Array<{ name: string; scriptUrl: string; line: number; selfUs: number; hotLines: Array<[number, number]> }> };
};

/** A 5 s window of the recorded service's usual work at `scale` (1: its CPU over 5 s, 0.08 cores), serving `requests`. */
function usualWindow(target: ProfileWindow["target"], n: number, startMs: number, scale: number, requests: number): ProfileWindow {
  return {
    ...window,
    target,
    windowId: `${target.targetId}:${n}`,
    sequence: n,
    startMs,
    endMs: startMs + 5_000,
    cpuUs: Math.round((recorded.baseline.cpuUs / 3) * scale),
    endpoints: requests ? [{ method: "GET", route: "/products", status: 200, count: requests, totalMs: requests, maxMs: 2, bucketIndexes: [], bucketCounts: [], routeTemplate: true, host: "" }] : [],
    functions: recorded.baseline.functions.map((f) =>
      functionStat({
        name: f.name,
        scriptUrl: f.scriptUrl,
        filePath: "",
        line: f.line,
        selfSamples: 1,
        totalSamples: 1,
        selfUs: Math.round((f.selfUs / 3) * scale),
        hotLines: f.hotLines.map(([line, samples]) => ({ line, samples })),
      }),
    ),
  };
}

let dir: string;
let db: Db;
let store: EventStore;
const T0 = Date.now() - 60 * 60_000;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "seismo-spikes-"));
  db = openDatabase(join(dir, "seismo.db"));
  store = new EventStore(db);
  // Ten normal windows before the spikes: the service's baseline.
  for (let i = 0; i < 10; i++) {
    store.recordWindow({ ...window, windowId: `${window.target.targetId}:${i}`, sequence: i, startMs: T0 + i * 10_000, endMs: T0 + (i + 1) * 10_000 }, T0);
  }
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("spikes into incidents", () => {
  it("stores a spike with a culprit as a cpu_spike incident, once, however often it is delivered", () => {
    const first = store.recordSpike(spike(1, T0 + 200_000, "regex"), Date.now());
    expect(first.kind).toBe("stored");
    const id = first.kind === "stored" ? first.incidentId : undefined;
    expect(id).toMatch(/^spk-[0-9a-f]{10}$/);
    expect(store.recordSpike(spike(1, T0 + 200_000, "regex"), Date.now()).kind).toBe("duplicate");

    const incidents = listIncidents(db, { sinceMs: 0 });
    expect(incidents).toHaveLength(1);
    const [incident] = incidents;
    expect(incident).toMatchObject({ id, kind: "cpu_spike", service: window.target.service, endedAt: null });
    expect(incident?.startedAt).toBe(new Date(T0 + 200_000).toISOString());
    expect(incident?.summary).toMatch(/isValidSlug/);
    expect(incident?.culprits[0]).toMatchObject({ name: "isValidSlug", package: null, baselineShare: 0 });
    expect(incident?.kind === "cpu_spike" && incident.details.baselineWindows).toBe(10);
  });

  it("closes the incident when the end of the spike arrives, keeping the highest peaks", () => {
    const s = spike(2, T0 + 200_000, "bcrypt", { peakCpu: 0.9 });
    store.recordSpike(s, Date.now());
    const end = { ...s, profile: undefined, endedMs: T0 + 206_000, peakCpu: 1.07, maxStallMs: 120 };
    const outcome = store.recordSpike(end, Date.now());
    expect(outcome.kind).toBe("updated");
    const [incident] = listIncidents(db, { sinceMs: 0 });
    expect(incident?.endedAt).toBe(new Date(T0 + 206_000).toISOString());
    expect(incident?.kind === "cpu_spike" && incident.details.peakCpu).toBe(1.07);
  });

  it("keeps a spike with the usual profile shape, judged ordinary, and opens no incident", () => {
    // The recorded service's own normal windows, as three 5 s windows of a service of their own
    // (the recorded 15 one-second windows' CPU over the same 15 s).
    const target = { ...window.target, targetId: "d:77:1", service: "catalog" };
    for (let i = 0; i < 3; i++) store.recordWindow(usualWindow(target, i, T0 + i * 5_000, 1, 0), T0);
    // The spike's peak within three times the windows' CPU: a comparable load.
    const outcome = store.recordSpike({ ...spike(3, T0 + 200_000, "traffic"), target, peakCpu: 0.2 }, Date.now());
    expect(outcome.kind === "stored" && outcome.incidentId).toBe(undefined);
    expect(listIncidents(db, { sinceMs: 0 })).toEqual([]);
    expect(db.prepare("SELECT verdict FROM spikes").get()).toEqual({ verdict: "ordinary" });
  });

  describe("load and idle baselines (issue 17)", () => {
    const target = { ...window.target, targetId: "d:88:1", service: "storefront" };
    let sequence = 0;
    const usual = (startMs: number, scale: number, requests: number): void => void store.recordWindow(usualWindow(target, sequence++, startMs, scale, requests), T0);
    /** The service idle: a few timer samples a window, 0.002 cores. */
    function idle(startMs: number): void {
      const n = sequence++;
      store.recordWindow({ ...window, target, windowId: `d:88:1:${n}`, sequence: n, startMs, endMs: startMs + 5_000, cpuUs: 10_000, functions: [functionStat({ name: "listOnTimeout", selfUs: 10_000 })] }, T0);
    }
    const verdict = (n: number): { verdict: string; verdict_reason: string } =>
      db.prepare("SELECT verdict, verdict_reason FROM spikes WHERE spike_id = ?").get(`${window.target.targetId}:spike:${n}`) as { verdict: string; verdict_reason: string };

    it("traffic arriving at an idle service waits for the busy windows after it, and is no incident when it has their shape", () => {
      const onset = T0 + 20 * 60_000;
      for (let i = 0; i < 8; i++) idle(onset - 40_000 + i * 5_000);
      const arrived = store.recordSpike({ ...spike(20, onset, "traffic"), target, peakCpu: 0.8 }, Date.now());
      expect(arrived.kind === "stored" && arrived.incidentId).toBe(undefined);
      expect(verdict(20).verdict).toBe("pending");
      expect(verdict(20).verdict_reason).toMatch(/No window at a comparable load before it/);
      // The usual traffic goes on at its new level; the spike ends; windows at that load follow.
      store.recordSpike({ ...spike(20, onset, "traffic"), target, profile: undefined, endedMs: onset + 9_000 }, Date.now());
      expect(store.spikes.judgePending(onset + 9_000)).toEqual([]);
      for (let i = 0; i < 3; i++) usual(onset + 10_000 + i * 5_000, 10, 0);
      expect(store.spikes.judgePending(onset + 25_000)).toEqual([]);
      expect(verdict(20).verdict).toBe("ordinary");
      expect(verdict(20).verdict_reason).toMatch(/Judged against the 3 window\(s\) at a comparable load after it/);
      expect(listIncidents(db, { sinceMs: 0 })).toEqual([]);
    });

    it("a crafted-input spike after idle is still opened, once busy windows show what normal is", () => {
      const onset = T0 + 20 * 60_000;
      for (let i = 0; i < 8; i++) idle(onset - 40_000 + i * 5_000);
      store.recordSpike({ ...spike(22, onset, "regex"), target }, Date.now());
      expect(listIncidents(db, { sinceMs: 0 })).toEqual([]);
      store.recordSpike({ ...spike(22, onset, "regex"), target, profile: undefined, endedMs: onset + 6_000 }, Date.now());
      // The load goes back to the usual, lighter level: a transient, judged once three windows have come.
      for (let i = 0; i < 2; i++) usual(onset + 10_000 + i * 5_000, 1, 0);
      expect(store.spikes.judgePending(onset + 20_000)).toEqual([]);
      usual(onset + 20_000, 1, 0);
      const opened = store.spikes.judgePending(onset + 25_000);
      expect(opened).toHaveLength(1);
      const [incident] = listIncidents(db, { sinceMs: 0 });
      expect(incident?.id).toBe(opened[0]);
      expect(incident?.culprits[0]?.name).toBe("isValidSlug");
      expect(incident?.kind === "cpu_spike" && incident.details.verdictReason).toMatch(/Compared with 3 window\(s\) at a lighter load/);
      // Judged once: nothing more to do.
      expect(store.spikes.judgePending(onset + 60_000)).toEqual([]);
    });

    it("a sidecar attached just before the traffic: the windows over the burst's moments, not the sliver before it, show the burst's handler share was its callees'", () => {
      // Recorded (load.test's early scenario): the burst, the three windows after it, the two over its 1.5 s.
      const early = JSON.parse(readFileSync(join(import.meta.dirname, "..", "..", "test", "fixtures", "profiles", "spike-early.json"), "utf8")) as Record<
        "baseline" | "sameMoments",
        { windows: number; cpuUs: number; functions: Array<{ name: string; scriptUrl: string; line: number; selfUs: number; totalUs?: number; hotLines: Array<[number, number]> }> }
      >;
      const stored = (startMs: number, endMs: number, of: (typeof early)["baseline"], parts = 1): void => {
        const n = sequence++;
        const functions = of.functions.map((f) =>
          functionStat({ name: f.name, scriptUrl: f.scriptUrl, filePath: "", line: f.line, selfUs: Math.round(f.selfUs / parts), totalUs: Math.round((f.totalUs ?? f.selfUs) / parts), hotLines: f.hotLines.map(([line, samples]) => ({ line, samples })) }),
        );
        store.recordWindow({ ...window, target, windowId: `d:88:1:${n}`, sequence: n, startMs, endMs, cpuUs: Math.round(of.cpuUs / parts), endpoints: [], functions }, T0);
      };
      const onset = T0 + 20 * 60_000;
      for (let i = 0; i < 4; i++) idle(onset - 20_000 + i * 5_000);
      const burst = { burstStartMs: onset + 1_050, burstEndMs: onset + 2_600 };
      // The window that ended as the burst began held 200 ms of the handler alone: not the burst's time (counted, the handler would have grown there).
      const handler = early.baseline.functions.find((f) => f.name === "/products");
      stored(burst.burstStartMs - 200, burst.burstStartMs, { windows: 1, cpuUs: 200_000, functions: [{ ...(handler as (typeof early)["baseline"]["functions"][number]), selfUs: 200_000, totalUs: 200_000 }] });
      stored(burst.burstStartMs, burst.burstEndMs + 2, early.sameMoments);
      const recordedSpike = { ...spike(24, onset, "early"), target, peakCpu: 0.64, ...burst };
      store.recordSpike(recordedSpike, Date.now());
      store.recordSpike({ ...recordedSpike, profile: undefined, endedMs: onset + 4_000 }, Date.now());
      for (let i = 0; i < 3; i++) stored(onset + 4_000 + i * 1_000, onset + 5_000 + i * 1_000, early.baseline, 3);
      expect(store.spikes.judgePending(onset + 8_000)).toEqual([]);
      expect(verdict(24).verdict).toBe("ordinary");
      expect(verdict(24).verdict_reason).toMatch(/^Same work as normal, charged differently: the spike's profile gave \/products 27\.8 % of CPU in its own code \(0\.62 % normally\), the rolling windows over the same moments 1\.4 %/);
      expect(listIncidents(db, { sinceMs: 0 })).toEqual([]);
    });

    it("with no busy window before or after, no culprit is claimed: an idle service's hourly batch is not paged", () => {
      const onset = T0 + 20 * 60_000;
      store.recordSpike({ ...spike(23, onset, "regex"), target }, Date.now());
      store.recordSpike({ ...spike(23, onset, "regex"), target, profile: undefined, endedMs: onset + 5_000 }, Date.now());
      for (let i = 0; i < 3; i++) idle(onset + 5_000 + i * 5_000);
      expect(store.spikes.judgePending(onset + 20_000)).toEqual([]);
      expect(verdict(23).verdict).toBe("pending");
      expect(store.spikes.judgePending(onset + 5 * 60_000)).toEqual([]);
      expect(store.spikes.judgePending(onset + 11 * 60_000)).toEqual([]);
      expect(verdict(23)).toEqual({ verdict: "ordinary", verdict_reason: expect.stringMatching(/^Not judged: no busy window within 60 min before it nor 10 min after it/) as string });
      expect(listIncidents(db, { sinceMs: 0 })).toEqual([]);
    });

    it("a worker given ten times the jobs for a moment (no requests to count): its job function's larger share is not paged", () => {
      const onset = T0 + 20 * 60_000;
      // At the light load before, fixed costs (timers) take as much as the work itself.
      for (let i = 0; i < 6; i++) {
        const light = usualWindow(target, sequence++, onset - 30_000 + i * 5_000, 1, 0);
        store.recordWindow({ ...light, cpuUs: light.cpuUs * 3, functions: [...light.functions, functionStat({ name: "listOnTimeout", selfUs: light.cpuUs * 2 })] }, T0);
      }
      store.recordSpike({ ...spike(27, onset, "traffic"), target, peakCpu: 0.8 }, Date.now());
      expect(verdict(27).verdict).toBe("pending");
      // Back to the light load at once: a transient, judged against the lighter windows.
      store.recordSpike({ ...spike(27, onset, "traffic"), target, profile: undefined, endedMs: onset + 5_000 }, Date.now());
      for (let i = 0; i < 3; i++) idle(onset + 5_000 + i * 5_000);
      expect(store.spikes.judgePending(onset + 20_000)).toEqual([]);
      expect(verdict(27).verdict).toBe("ordinary");
      expect(verdict(27).verdict_reason).toMatch(/at a lighter load, with no requests counted to tell more of the same work from slower work: not paged/);
      expect(listIncidents(db, { sinceMs: 0 })).toEqual([]);
    });

    it("a busy service whose traffic rises with the same shape and cost per request: load, recorded, not an incident", () => {
      const onset = T0 + 20 * 60_000;
      for (let i = 0; i < 6; i++) usual(onset - 30_000 + i * 5_000, 1, 100);
      // During the spike: ten times the requests and ten times the CPU, the same functions. The
      // windows before ran at a tenth of the load, but the requests tell at once.
      usual(onset, 10, 1_000);
      const outcome = store.recordSpike({ ...spike(24, onset, "traffic"), target, burstEndMs: onset + 4_000, peakCpu: 0.8 }, Date.now());
      expect(outcome.kind === "stored" && outcome.incidentId).toBe(undefined);
      expect(verdict(24)).toEqual({
        verdict: "load",
        verdict_reason: expect.stringMatching(/^Load, not an incident: requests rose 10× \(20 → 200 requests\/s, CPU per request 4\.05 → 4\.05 ms\)/) as string,
      });
    });

    it("crafted inputs arriving with more traffic at about the usual cost per request: still an incident, the function named", () => {
      const onset = T0 + 20 * 60_000;
      for (let i = 0; i < 6; i++) usual(onset - 30_000 + i * 5_000, 1, 100);
      usual(onset, 10, 1_000);
      const outcome = store.recordSpike({ ...spike(28, onset, "regex"), target, burstEndMs: onset + 4_000, peakCpu: 0.8 }, Date.now());
      expect(outcome.kind === "stored" && outcome.incidentId).toMatch(/^spk-/);
      const [incident] = listIncidents(db, { sinceMs: 0 });
      expect(incident?.culprits[0]?.name).toBe("isValidSlug");
      expect(incident?.kind === "cpu_spike" && incident.details.verdictReason).toMatch(/isValidSlug held 0\.0 % of CPU there, so more of the same work does not explain it/);
    });

    it("a service serving requests at next to no CPU, then each costing far more: an incident at once, whatever the windows' CPU", () => {
      const onset = T0 + 20 * 60_000;
      for (let i = 0; i < 6; i++) {
        const n = sequence++;
        const startMs = onset - 30_000 + i * 5_000;
        const endpoints = [{ method: "GET", route: "/", status: 200, count: 400, totalMs: 40, maxMs: 1, bucketIndexes: [], bucketCounts: [], routeTemplate: false, host: "" }];
        store.recordWindow({ ...window, target, windowId: `d:88:1:${n}`, sequence: n, startMs, endMs: startMs + 5_000, cpuUs: 10_000, endpoints, functions: [functionStat({ name: "listProducts", selfUs: 10_000 })] }, T0);
      }
      usual(onset, 10, 400);
      const outcome = store.recordSpike({ ...spike(29, onset, "bcrypt"), target, burstEndMs: onset + 4_000, peakCpu: 1 }, Date.now());
      expect(outcome.kind === "stored" && outcome.incidentId).toMatch(/^spk-/);
      const [incident] = listIncidents(db, { sinceMs: 0 });
      expect(incident?.culprits[0]?.package).toBe("bcryptjs");
      expect(incident?.kind === "cpu_spike" && incident.details.verdictReason).toMatch(/^Each request cost \d+× the CPU/);
    });

    it("only a dozen requests finish during the spike, each costing a hundred times more: still an incident; a dozen at a little more is not", () => {
      // The CI's handler spike: every request burns 115 ms, so a 1.5 s burst finishes 13 of them.
      const onset = T0 + 20 * 60_000;
      const quiet = (startMs: number): void => {
        const n = sequence++;
        const endpoints = [{ method: "GET", route: "/", status: 200, count: 300, totalMs: 30, maxMs: 1, bucketIndexes: [], bucketCounts: [], routeTemplate: false, host: "" }];
        store.recordWindow({ ...window, target, windowId: `d:88:1:${n}`, sequence: n, startMs, endMs: startMs + 5_000, cpuUs: 60_000, endpoints, functions: [functionStat({ name: "listProducts", selfUs: 60_000 })] }, T0);
      };
      for (let i = 0; i < 6; i++) quiet(onset - 30_000 + i * 5_000);
      // Normally 0.2 ms a request. Thirteen at 115 ms each:
      const finished = (startMs: number, cpuUs: number): void => {
        const n = sequence++;
        const endpoints = [{ method: "GET", route: "/", status: 200, count: 13, totalMs: 1_500, maxMs: 200, bucketIndexes: [], bucketCounts: [], routeTemplate: false, host: "" }];
        store.recordWindow({ ...window, target, windowId: `d:88:1:${n}`, sequence: n, startMs, endMs: startMs + 1_500, cpuUs, endpoints, functions: [functionStat({ name: "listProducts", selfUs: cpuUs })] }, T0);
      };
      finished(onset + 1_000, 1_495_000);
      const costly = store.recordSpike({ ...spike(31, onset, "bcrypt"), target, burstEndMs: onset + 2_500, peakCpu: 1 }, Date.now());
      expect(costly.kind === "stored" && costly.incidentId).toMatch(/^spk-/);
      expect(verdict(31).verdict_reason).toMatch(/^Each request cost at least \d+× the CPU it normally does .*only 13 finished while it lasted/);

      // Thirteen at 0.5 ms: 2.5 times the usual cost each, but counted as the twenty a judgement
      // needs, 1.6 times: too few requests to say. Left pending, not paged.
      const later = onset + 5 * 60_000;
      for (let i = 0; i < 6; i++) quiet(later - 30_000 + i * 5_000);
      finished(later + 1_000, 6_500);
      const few = store.recordSpike({ ...spike(32, later, "traffic"), target, burstEndMs: later + 2_500, peakCpu: 0.2 }, Date.now());
      expect(few.kind === "stored" && few.incidentId).toBe(undefined);
      expect(verdict(32).verdict).not.toBe("incident");
    });

    it("the same shape but each request costing three times as much: an incident with no single culprit", () => {
      const onset = T0 + 20 * 60_000;
      for (let i = 0; i < 6; i++) usual(onset - 30_000 + i * 5_000, 1, 100);
      usual(onset, 3, 100);
      const outcome = store.recordSpike({ ...spike(25, onset, "traffic"), target, burstEndMs: onset + 4_000, peakCpu: 0.2 }, Date.now());
      expect(outcome.kind === "stored" && outcome.incidentId).toMatch(/^spk-/);
      const [incident] = listIncidents(db, { sinceMs: 0 });
      expect(incident?.culprits).toEqual([]);
      expect(incident?.kind === "cpu_spike" && incident.details.verdictReason).toMatch(/Each request cost 3\.0× the CPU/);
    });
  });

  it("lists newest first, finds an incident by a unique prefix, and exports its burst profile", () => {
    store.recordSpike(spike(4, T0 + 200_000, "regex"), Date.now());
    store.recordSpike(spike(5, T0 + 300_000, "bcrypt"), Date.now());
    const incidents = listIncidents(db, { sinceMs: 0 });
    expect(incidents.map((i) => i.startedAt)).toEqual([new Date(T0 + 300_000).toISOString(), new Date(T0 + 200_000).toISOString()]);
    const newest = incidents[0]?.id as string;
    expect(getIncident(db, newest.slice(0, 8)).id).toBe(newest);
    const { profile } = incidentProfile(db, newest);
    expect(profile.samples).toEqual(recordedBurst("bcrypt").samples);
    expect(() => getIncident(db, "spk-nothing")).toThrow(/No incident/);
    expect(listIncidents(db, { sinceMs: T0 + 250_000 })).toHaveLength(1);
  });

  it("prunes spikes and incidents with the windows", () => {
    store.recordSpike(spike(6, T0 + 200_000, "regex"), Date.now());
    store.prune(T0 + 250_000);
    expect(listIncidents(db, { sinceMs: 0 })).toEqual([]);
    expect(db.prepare("SELECT COUNT(*) AS n FROM spikes").get()).toEqual({ n: 0 });
  });
});
