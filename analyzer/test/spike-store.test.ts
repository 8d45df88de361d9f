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
    // The recorded service's own normal windows, stored as three windows of a service of their own.
    const recorded = JSON.parse(
      readFileSync(join(import.meta.dirname, "..", "..", "test", "fixtures", "profiles", "spike-traffic.json"), "utf8"),
    ) as { baseline: { cpuUs: number; functions: Array<{ name: string; scriptUrl: string; line: number; selfUs: number; hotLines: Array<[number, number]> }> } };
    const target = { ...window.target, targetId: "d:77:1", service: "catalog" };
    for (let i = 0; i < 3; i++) {
      store.recordWindow(
        {
          ...window,
          target,
          windowId: `d:77:1:${i}`,
          sequence: i,
          startMs: T0 + i * 10_000,
          endMs: T0 + (i + 1) * 10_000,
          cpuUs: Math.round(recorded.baseline.cpuUs / 3),
          functions: recorded.baseline.functions.map((f) =>
            functionStat({
              name: f.name,
              scriptUrl: f.scriptUrl,
              filePath: "",
              line: f.line,
              selfSamples: 1,
              totalSamples: 1,
              selfUs: Math.round(f.selfUs / 3),
              hotLines: f.hotLines.map(([line, samples]) => ({ line, samples })),
            }),
          ),
        },
        T0,
      );
    }
    const outcome = store.recordSpike({ ...spike(3, T0 + 200_000, "traffic"), target }, Date.now());
    expect(outcome.kind === "stored" && outcome.incidentId).toBe(undefined);
    expect(listIncidents(db, { sinceMs: 0 })).toEqual([]);
    expect(db.prepare("SELECT verdict FROM spikes").get()).toEqual({ verdict: "ordinary" });
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
