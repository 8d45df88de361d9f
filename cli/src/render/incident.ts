import type { CallerFrame, IncidentView } from "@seismo/analyzer";
import { describeCulprit, describeEndpointChange } from "@seismo/analyzer";

function pct(share: number): string {
  return `${(share * 100).toFixed(1)} %`;
}

function where(frame: { file: string | null; line: number | null }, cwd: string): string {
  if (!frame.file) return "";
  const file = frame.file.startsWith(`${cwd}/`) ? frame.file.slice(cwd.length + 1) : frame.file;
  return frame.line ? `${file}:${frame.line}` : file;
}

function frameText(frame: CallerFrame, cwd: string): string {
  const pkg = frame.package && frame.package !== "node" ? ` [${frame.package}${frame.packageVersion ? `@${frame.packageVersion}` : ""}]` : "";
  const at = where(frame, cwd);
  return `${frame.name}${at ? ` ${at}` : ""}${pkg}`;
}

/** One line per incident for `seismo incidents`. */
export function renderIncidentLine(incident: IncidentView): string {
  const ended = incident.endedAt ? "" : " (ongoing)";
  return `${incident.id}  ${incident.startedAt.replace("T", " ").slice(0, 19)}Z  ${incident.kind}${ended}  ${incident.summary}`;
}

/** The human summary of `seismo show`. */
export function renderIncident(incident: IncidentView, cwd: string): string[] {
  if (incident.kind === "regression") return renderRegression(incident, cwd);
  const d = incident.details;
  const lines: string[] = [];
  lines.push(`${incident.id}: ${incident.kind} on ${incident.service}${incident.deployment ? ` (${incident.deployment})` : ""}, pid ${d.pid} on ${d.host}`);
  lines.push(`  ${incident.summary}`);
  lines.push("");
  const duration = incident.endedAt ? `${((Date.parse(incident.endedAt) - Date.parse(incident.startedAt)) / 1_000).toFixed(1)} s` : "still going when last heard of";
  lines.push(`  started   ${incident.startedAt}   (${duration}; detected ${((Date.parse(d.detectedAt) - Date.parse(incident.startedAt)) / 1_000).toFixed(1)} s after onset, trigger ${d.trigger})`);
  lines.push(`  CPU       peak ${d.peakCpu.toFixed(2)} cores, normally ${d.baselineCpu.toFixed(2)}`);
  lines.push(
    `  loop      delay p99 peak ${Math.round(d.peakLoopDelayMs)} ms, normally ${Math.round(d.baselineLoopDelayMs)} ms` +
      (d.maxStallMs >= 1_000 ? `; blocked for ${(d.maxStallMs / 1_000).toFixed(1)} s` : ""),
  );
  lines.push(
    `  evidence  ${d.burst.samples} samples at ${d.burst.samplingIntervalUs} µs over ${((Date.parse(d.burst.endedAt) - Date.parse(d.burst.startedAt)) / 1_000).toFixed(1)} s` +
      ` (GC ${pct(d.burst.gcShare)}), against ${d.baselineWindows} normal window(s)`,
  );
  lines.push("");
  if (incident.culprits.length === 0) lines.push("  No single culprit: " + d.verdictReason);
  incident.culprits.forEach((culprit, i) => {
    lines.push(`  ${i + 1}. ${describeCulprit(culprit)}  ${pct(culprit.share)} of CPU during the spike, ${pct(culprit.baselineShare)} normally`);
    if (!culprit.builtin && culprit.file) lines.push(`     at ${where(culprit, cwd)}${culprit.hotLine ? `, hottest line ${culprit.hotLine}` : ""}`);
    if (culprit.appFrame) lines.push(`     app code: ${culprit.appFrame.name} ${where(culprit.appFrame, cwd)}`);
    if (culprit.note) lines.push(`     ${culprit.note}`);
    if (culprit.callers.length > 1) {
      lines.push("     call chain:");
      for (const frame of culprit.callers.slice(-8)) lines.push(`       ${frameText(frame, cwd)}`);
    }
  });
  lines.push("");
  lines.push(`  Profile: seismo profile ${incident.id} -o spike.cpuprofile   (Chrome DevTools > Performance, or speedscope)`);
  return lines;
}

function renderRegression(incident: Extract<IncidentView, { kind: "regression" }>, cwd: string): string[] {
  const d = incident.details;
  const label = incident.deployment || "(none)";
  // Incidents stored before drift existed have no cause: they compared deployments.
  const drift = d.cause === "drift";
  const lines = drift
    ? [
        `${incident.id}: drift in ${incident.service}, deployment ${label}, with no deployment since`,
        `  ${incident.summary}`,
        "",
        `  since     ${incident.startedAt}; last checked ${d.checkedAt}`,
        `  evidence  the latest ${d.windowsB} windows against the ${d.windowsA} before them` +
          (d.baselinePeriod ? ` (${d.baselinePeriod.from} to ${d.baselinePeriod.to})` : ""),
        "",
      ]
    : [
        `${incident.id}: regression in ${incident.service}, deployment ${label} vs ${d.previousDeployment || "(none)"}`,
        `  ${incident.summary}`,
        "",
        `  since     ${incident.startedAt} (first window of ${label}); last checked ${d.checkedAt}`,
        `  evidence  ${d.windowsB} windows of ${label} against ${d.windowsA} of ${d.previousDeployment || "(none)"}`,
        "",
      ];
  incident.culprits.forEach((culprit, i) => {
    lines.push(`  ${i + 1}. ${describeCulprit(culprit)}  ${pct(culprit.share)} of CPU now, ${pct(culprit.baselineShare)} before`);
    if (culprit.file) lines.push(`     at ${where(culprit, cwd)}`);
    if (culprit.note) lines.push(`     ${culprit.note}`);
  });
  if (d.endpoints && d.endpoints.length > 0) {
    lines.push("", "  Endpoints:");
    for (const e of d.endpoints) lines.push(`  - ${describeEndpointChange(e).replaceAll("`", "")} (${e.callsB} calls vs ${e.callsA})`);
  }
  if (!drift) lines.push("", `  All changes: seismo diff --from ${d.previousDeployment} --to ${incident.deployment} --service ${incident.service}`);
  return lines;
}
