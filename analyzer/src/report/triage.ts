import type { Comparison, FunctionChange } from "../regressions/compare.js";
import { describeEndpointChange } from "../regressions/endpoint-compare.js";
import type { IncidentView } from "../incidents/incident.js";
import { describeCulprit, lineToOpen } from "../incidents/incident.js";
import type { SnapshotView } from "../capture/snapshot-store.js";
import { listSnapshots } from "../capture/snapshot-store.js";
import { diffDeployments, previousDeployment } from "../query/deployments.js";
import type { LoadChangeView } from "../query/load-changes.js";
import { listLoadChanges } from "../query/load-changes.js";
import type { Db } from "../store/database.js";
import { renderValue } from "./captured-value-text.js";
import type { RouteRequests } from "../requests/request-summary.js";
import { routeRequests } from "../requests/request-summary.js";

/**
 * How a brief names the next things to run: the CLI's commands for people, the MCP tools for
 * agents. The advice is the same; only the words for where to look differ.
 */
export interface TriageVocabulary {
  /** Where an endpoint's outgoing calls and queries are seen. */
  waitsOn: string;
  /** How to load a spike's profile. */
  spikeProfile(incidentId: string): string;
  /** How to list every function that changed between two deployments. */
  compare(from: string, to: string, service: string): string;
  /** Where the captured values are, when there are some. */
  capturedValues: string;
  /** How to read one kept request in full. */
  request(id: string): string;
}

export const CLI_VOCABULARY: TriageVocabulary = {
  waitsOn: "its outgoing calls (`seismo endpoints --outgoing`) and database queries (`seismo queries`)",
  spikeProfile: (id) => `\`seismo profile ${id} -o spike.cpuprofile\` (or \`.pb.gz\` for pprof)`,
  compare: (from, to, service) => `\`seismo diff --from ${from} --to ${to} --service ${service}\``,
  capturedValues: "the captured values",
  request: (id) => `\`seismo show ${id}\``,
};

export const AGENT_VOCABULARY: TriageVocabulary = {
  waitsOn: "its outgoing calls (list_endpoints with outgoing: true) and database queries (list_endpoints with queries: true)",
  spikeProfile: (id) => `call get_spike_profile with id ${id} for the heaviest stacks`,
  compare: (from, to, service) => `call compare_deployments with from ${from}, to ${to}, service ${service}`,
  capturedValues: "the captured values (`snapshots`)",
  request: (id) => `call get_request with id ${id}`,
};

export interface TriageInput {
  incident: IncidentView;
  snapshots: SnapshotView[];
  /** The incident's deployment against the one before it, when there was one. */
  changes: { from: string; to: string; comparison: Comparison } | null;
  /** Load changes of the service in the hour before the incident and while it lasted: context. */
  loadChanges?: LoadChangeView[];
  /**
   * Failed and slow requests kept while it lasted: for a regression, those of its endpoints in its
   * deployment; for a spike, any of the service's.
   */
  requests?: RouteRequests[];
}

export interface Triage {
  id: string;
  kind: IncidentView["kind"];
  service: string;
  summary: string;
  /** The app line to open first ("file:line"), when Seismo knows one. */
  open: string | null;
  culprit: IncidentView["culprits"][number] | null;
  changed: Array<Pick<FunctionChange, "name" | "file" | "line" | "kind" | "ratio" | "ciLow" | "ciHigh">>;
  next: string[];
  /** Kept requests of the incident's routes (or, for a spike, of its service while it lasted), with the latest of each. */
  requests: RouteRequests[];
  markdown: string;
}

const pct = (share: number): string => `${(share * 100).toFixed(1)} %`;
const change = (c: { ratio: number; ciLow: number; ciHigh: number; kind: string }): string =>
  Number.isFinite(c.ratio) ? `${c.ratio >= 1 ? "+" : ""}${Math.round((c.ratio - 1) * 100)} % (95 % CI ${Math.round((c.ciLow - 1) * 100)}…${Math.round((c.ciHigh - 1) * 100)} %)` : c.kind;

/**
 * A Markdown brief an engineer or an agent can act on: what happened, the evidence, the culprit
 * with its caller chain and the app line to open, the captured values, what changed since the
 * last deployment, and what to check next. Pure.
 */
export function triage({ incident, snapshots, changes, loadChanges = [], requests = [] }: TriageInput, words: TriageVocabulary = CLI_VOCABULARY): Triage {
  const culprit = incident.culprits[0] ?? null;
  const openFrame = lineToOpen(culprit ?? undefined);
  const open = openFrame?.text ?? null;
  const md: string[] = [];
  const kindText = incident.kind === "cpu_spike" ? "CPU spike" : "Regression";
  md.push(`# ${kindText} in ${incident.service}${incident.deployment ? ` (${incident.deployment})` : ""}: ${incident.id}`, "");
  md.push(`**What happened.** ${incident.summary}`, "");
  md.push(`- Started ${incident.startedAt}${incident.endedAt ? `, ended ${incident.endedAt}` : ", still going when last heard of"}.`);

  md.push("", "## Evidence", "");
  if (incident.kind === "cpu_spike") {
    const d = incident.details;
    md.push(`- CPU peaked at ${d.peakCpu.toFixed(2)} cores (normally ${d.baselineCpu.toFixed(2)}); event-loop delay p99 peaked at ${Math.round(d.peakLoopDelayMs)} ms (normally ${Math.round(d.baselineLoopDelayMs)} ms).`);
    md.push(`- A profile of the spike: ${d.burst.samples} samples at ${d.burst.samplingIntervalUs} µs, against ${d.baselineWindows} normal window(s). ${d.verdictReason}`);
    for (const stack of d.topStacks.slice(0, 3)) md.push(`- ${pct(stack.share)} of the spike's CPU: ${stack.frames.slice(-5).map((f) => f.name || "(anonymous)").join(" → ")}`);
  } else {
    const d = incident.details;
    md.push(`- ${d.windowsB} windows of ${incident.deployment || "(none)"} against ${d.windowsA} of ${d.previousDeployment || "the baseline"}; last checked ${d.checkedAt}.`);
    for (const e of d.endpoints ?? []) md.push(`- Endpoint ${describeEndpointChange(e)}, ${e.callsB} calls against ${e.callsA}.`);
  }
  for (const load of loadChanges.slice(0, 3)) md.push(`- Traffic, at ${load.at}: ${load.text}`);

  md.push("", "## Culprit", "");
  if (!culprit && incident.kind === "regression" && (incident.details.endpoints?.length ?? 0) > 0) {
    md.push(`No function's CPU share changed beyond noise, so the endpoint's time is likely spent waiting, not computing: check ${words.waitsOn}, and what they wait on; the evidence above names any that got slower too.`);
  } else if (!culprit) md.push("No single function stands out.");
  else {
    md.push(`${describeCulprit(culprit)}: ${pct(culprit.share)} of CPU ${incident.kind === "cpu_spike" ? "during the spike" : "now"}, ${pct(culprit.baselineShare)} ${incident.kind === "cpu_spike" ? "normally" : "before"}.`);
    if (open) md.push("", `**Open \`${open}\`** (\`${openFrame?.name ?? culprit.name}\`)${culprit.hotLine && culprit.file ? `; hottest line ${culprit.hotLine}` : ""}.`);
    if (culprit.note) md.push("", culprit.note);
    if (culprit.callers.length > 1) {
      md.push("", "Caller chain (outermost first):", "");
      for (const frame of culprit.callers.slice(-8)) md.push(`1. \`${frame.name || "(anonymous)"}\`${frame.file ? ` ${frame.file}${frame.line ? `:${frame.line}` : ""}` : ""}${frame.package && frame.package !== "node" ? ` (${frame.package}@${frame.packageVersion ?? "?"})` : ""}`);
    }
  }

  md.push("", "## Captured values", "");
  const first = snapshots[0];
  if (!first) md.push("None captured (the culprit was not called again while armed, or capture was off).");
  else {
    md.push(`From \`${first.functionName}\` at ${first.file}:${first.line}, ${first.capturedAt} (${snapshots.length} snapshot(s); cut to limits, secrets redacted):`, "", "```");
    for (const local of first.locals) md.push(...renderValue(local, ""));
    md.push("```");
  }

  md.push("", "## Requests that failed or were slow", "");
  if (requests.length === 0) md.push(incident.kind === "cpu_spike" ? "None kept while it lasted." : "None kept for its endpoints in this deployment.");
  for (const r of requests.slice(0, 5)) {
    const counts = [r.failed > 0 ? `${r.failed} failed` : "", r.slow > 0 ? `${r.slow} slow` : ""].filter(Boolean).join(", ");
    md.push(`- **${r.method} ${r.route}** (${r.service}), ${counts} kept: ${r.latest.summary} (${words.request(r.latest.id)})`);
  }

  md.push("", "## What changed since the last deployment", "");
  const changed = (changes?.comparison.changes ?? []).filter((c) => c.kind !== "unchanged").slice(0, 5);
  if (!changes) md.push("No earlier deployment of this service to compare with.");
  else if (!changes.comparison.enough) md.push(`${changes.from} → ${changes.to}: too few windows on one side to say.`);
  else if (changed.length === 0) md.push(`${changes.from} → ${changes.to}: no function changed beyond noise.`);
  else for (const c of changed) md.push(`- \`${c.name}\` ${c.file}:${c.line}: ${c.kind} ${change(c)}`);

  const next: string[] = [];
  if (open) next.push(`Read \`${open}\`${incident.kind === "regression" && changes ? ` and its diff between ${changes.from} and ${changes.to}` : ""}: what does it do with the input it was given?`);
  if (culprit?.builtin) next.push(`The time is inside the built-in ${culprit.name}: check the size of what the app hands it.`);
  if (!culprit && incident.kind === "regression" && (incident.details.endpoints?.length ?? 0) > 0) next.push(`An endpoint got slower or started failing while no function's CPU share changed: check ${words.waitsOn}.`);
  if (first) next.push(`Compare ${words.capturedValues} with what the code expects (sizes, lengths, unusual inputs).`);
  const failing = requests.find((r) => r.failed > 0) ?? requests[0];
  if (failing) next.push(`Read a ${failing.failed > 0 ? "failed" : "slow"} request of ${failing.method} ${failing.route} in full, its queries, calls and error: ${words.request(failing.latest.id)}.`);
  if (incident.kind === "cpu_spike") next.push(`Load the spike's profile: ${words.spikeProfile(incident.id)}.`);
  if (changes && changed.length > 0) next.push(`Functions that changed with the deployment: ${words.compare(changes.from, changes.to, incident.service)}.`);
  md.push("", "## What to check next", "", ...next.map((n) => `- ${n}`));

  return {
    id: incident.id,
    kind: incident.kind,
    service: incident.service,
    summary: incident.summary,
    open,
    culprit,
    changed: changed.map((c) => ({ name: c.name, file: c.file, line: c.line, kind: c.kind, ratio: c.ratio, ciLow: c.ciLow, ciHigh: c.ciHigh })),
    next,
    requests,
    markdown: `${md.join("\n")}\n`,
  };
}

/** The incident's deployment against the one before it (for a regression, the one it was compared with). */
function changesFor(db: Db, incident: IncidentView): TriageInput["changes"] {
  const from = incident.previousDeployment ?? previousDeployment(db, incident.service, incident.deployment) ?? null;
  if (!from) return null;
  try {
    return { from, to: incident.deployment, comparison: diffDeployments(db, { from, to: incident.deployment, service: incident.service }) };
  } catch {
    return null;
  }
}

/** The kept requests that tell the incident's story: a regression's endpoints in its deployment since it began; a spike's service while it lasted. */
function requestsFor(db: Db, incident: IncidentView): RouteRequests[] {
  const startedMs = Date.parse(incident.startedAt);
  if (incident.kind === "cpu_spike") {
    return routeRequests(db, { sinceMs: startedMs - 1_000, untilMs: (incident.endedAt ? Date.parse(incident.endedAt) : Date.now()) + 5_000, service: incident.service, limit: 5 });
  }
  const routes = (incident.details.endpoints ?? []).filter((e) => e.direction === "in").map((e) => `${e.method} ${e.route}`);
  if (routes.length === 0) return [];
  // A regression is found windows after its deployment began: its requests from the deployment's first window.
  const first = db.prepare("SELECT MIN(start_ms) AS at FROM windows WHERE service = ? AND deployment = ?").get(incident.service, incident.deployment) as { at: number | null };
  return routeRequests(db, { sinceMs: first.at ?? startedMs, service: incident.service, deployment: incident.deployment, routes, limit: 5 });
}

/** The triage brief of one incident, from the database: its snapshots and its deployment's changes. */
export function triageFor(db: Db, incident: IncidentView, words: TriageVocabulary = CLI_VOCABULARY): Triage {
  const startedMs = Date.parse(incident.startedAt);
  const loadChanges = listLoadChanges(db, {
    sinceMs: startedMs - 3_600_000,
    untilMs: incident.endedAt ? Date.parse(incident.endedAt) : Date.now(),
    service: incident.service,
    limit: 3,
  });
  return triage({ incident, snapshots: listSnapshots(db, { incidentId: incident.id, limit: 5 }), changes: changesFor(db, incident), loadChanges, requests: requestsFor(db, incident) }, words);
}
