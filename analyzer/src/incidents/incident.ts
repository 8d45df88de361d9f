import type { Spike } from "@seismo/agent-proto";
import type { RegressionDetails } from "../regressions/regression-watch.js";
import type { Culprit, SpikeAnalysis, StackSummary } from "../spike/culprits.js";

interface IncidentCommon {
  id: string;
  service: string;
  deployment: string;
  /** For regressions: the deployment compared against. Null for other kinds. */
  previousDeployment: string | null;
  targetId: string | null;
  /** ISO 8601 */
  startedAt: string;
  /** ISO 8601; null while it lasts. */
  endedAt: string | null;
  summary: string;
  culprits: Culprit[];
}

/** What `incidents --json` prints per incident, and what MCP and the UI will serve: `details` by kind. */
export type IncidentView = IncidentCommon &
  ({ kind: "cpu_spike"; details: CpuSpikeDetails } | { kind: "regression"; details: RegressionDetails });

/** What every view of an incident leads with (an alert, an MCP answer): which, where, since when, and what. */
export type IncidentHeadline = Pick<IncidentView, "id" | "kind" | "service" | "deployment" | "previousDeployment" | "startedAt" | "summary">;

export function incidentHeadline(incident: IncidentView): IncidentHeadline {
  const { id, kind, service, deployment, previousDeployment, startedAt, summary } = incident;
  return { id, kind, service, deployment, previousDeployment, startedAt, summary };
}

export interface CpuSpikeDetails {
  trigger: Spike["trigger"];
  pid: number;
  host: string;
  peakCpu: number;
  baselineCpu: number;
  peakLoopDelayMs: number;
  baselineLoopDelayMs: number;
  maxStallMs: number;
  detectedAt: string;
  burst: { startedAt: string; endedAt: string; samplingIntervalUs: number; samples: number; cpuMs: number; gcShare: number };
  baselineWindows: number;
  verdictReason: string;
  topStacks: StackSummary[];
}

function percent(share: number): string {
  return `${(share * 100).toFixed(share < 0.1 && share > 0 ? 1 : 0)} %`;
}

function shortFile(file: string | null, line: number | null): string {
  if (!file) return "";
  const parts = file.split("/");
  return `${parts.slice(-2).join("/")}${line ? `:${line}` : ""}`;
}

/**
 * The line to open for a culprit: its app frame (the app's own code that leads to it) when there
 * is one, else the culprit itself when it has a file; null for a built-in with no app caller.
 */
export function lineToOpen(culprit: Culprit | undefined): { name: string; file: string; line: number; text: string } | null {
  const frame = culprit?.appFrame?.file ? culprit.appFrame : culprit?.file ? culprit : null;
  if (!frame?.file) return null;
  const line = frame.line ?? 1;
  return { name: frame.name, file: frame.file, line, text: `${frame.file}:${line}` };
}

/** "`_encipher` (bcryptjs@3.0.3)", "`isValidSlug` (src/slug.js:21)", "built-in JSON.parse" */
export function describeCulprit(culprit: Culprit): string {
  if (culprit.builtin) return `built-in ${culprit.name}`;
  if (culprit.package && culprit.package !== "node") return `\`${culprit.name}\` (${culprit.package}${culprit.packageVersion ? `@${culprit.packageVersion}` : ""})`;
  return `\`${culprit.name}\` (${shortFile(culprit.file, culprit.line) || "native"})`;
}

/** One sentence: the culprit, where the app calls it, how unusual, and the peaks. */
export function spikeSummary(spike: Spike, analysis: SpikeAnalysis): string {
  const top = analysis.culprits[0];
  const where = spike.target.service + (spike.target.pid ? ` (pid ${spike.target.pid})` : "");
  const blocked = spike.trigger === "LOOP_BLOCKED" || spike.maxStallMs >= 1_000;
  // A loop blocked inside a native call that waits (a synchronous child process or file read)
  // uses little CPU; V8's sampler still finds the call on the stack, so its "share" is of time.
  const waiting = blocked && spike.peakCpu < 0.5;
  const peaks = blocked
    ? `event loop blocked ${(spike.maxStallMs / 1_000).toFixed(1)} s, peak ${spike.peakCpu.toFixed(2)} cores${waiting ? ": waiting, not computing" : ""}`
    : `peak ${spike.peakCpu.toFixed(2)} cores (normally ${spike.baselineCpu.toFixed(2)}), event-loop delay up to ${Math.round(spike.peakLoopDelayMs)} ms`;
  const lead = waiting ? `Event loop blocked on ${where}` : `CPU spike on ${where}`;
  if (!top) return `${lead} with no single culprit: ${peaks}.`;
  const app = top.appFrame;
  const isOwnFrame = app && !top.builtin && app.name === top.name && app.file === top.file;
  const calledFrom = app && !isOwnFrame ? ` called from \`${app.name}\` (${shortFile(app.file, app.line)})` : "";
  const took = waiting ? `held the main thread ${percent(top.share)} of the time` : `took ${percent(top.share)} of CPU`;
  return `${lead}: ${describeCulprit(top)}${calledFrom} ${took}, ${percent(top.baselineShare)} normally; ${peaks}.`;
}
