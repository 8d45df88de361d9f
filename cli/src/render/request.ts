import type { RequestView } from "@seismo/analyzer";

const ms = (value: number | null): string => (value === null ? "unfinished" : value < 10 ? `${value.toFixed(1)} ms` : `${Math.round(value)} ms`);

function why(r: RequestView): string {
  if (r.keptBecause === "slow") return `slow: over ${Math.round(r.slowThresholdMs)} ms`;
  if (r.keptBecause === "aborted") return "given up on: its connection closed before the response ended";
  if (r.keptBecause === "error") return `failed: ${r.error ? `${r.error.type} handled by ${r.error.handledBy || "the framework"}` : "an error handled"}`;
  return `failed: ${r.status}`;
}

/** One line per kept request, for the list. */
export function renderRequestLine(r: RequestView): string {
  const failing = r.queries.find((q) => q.error) ?? r.calls.find((c) => c.error);
  const cause = r.error ? `${r.error.type}: ${r.error.message}` : failing?.error ? failing.error.message : "";
  return `${r.id}  ${r.startedAt}  ${r.method} ${r.route}  ${r.status}  ${ms(r.durationMs)}  ${why(r)}${cause ? `  ${cause.slice(0, 120)}` : ""}`;
}

function inline(value: unknown): string {
  return JSON.stringify(value);
}

/**
 * One kept request in full: what it asked, then its timeline (start, each query and call with
 * its offset and duration, the end), the error with its stack, the app's frame first.
 */
export function renderRequest(r: RequestView): string[] {
  const lines = [
    `${r.method} ${r.route}${r.routeTemplate ? "" : " (path, no route template)"}  ${r.status} in ${ms(r.durationMs)}; ${why(r)}`,
    `  ${r.id}, ${r.startedAt}, ${r.service}${r.deployment ? ` ${r.deployment}` : ""}, target ${r.targetId}`,
  ];
  const { path, query, headers, body } = r.params;
  for (const [name, value] of [
    ["params", path],
    ["query", query],
    ["headers", headers],
    ["body", body],
  ] as const)
    if (value !== null) lines.push(`  ${name.padEnd(8)}${inline(value)}`);
  lines.push("  timeline:", `    ${"0 ms".padStart(9)}  request start`);
  const steps = [
    ...r.queries.map((q) => ({ at: q.offsetMs, text: `query ${q.statement}  (${q.database}) ${ms(q.durationMs)}${q.rows === null ? "" : `, ${q.rows} row(s)`}`, error: q.error })),
    ...r.calls.map((c) => ({ at: c.offsetMs, text: `call ${c.method} ${c.host}${c.route} ${c.status || "no response"} ${ms(c.durationMs)}`, error: c.error })),
  ].sort((a, b) => a.at - b.at);
  for (const step of steps) {
    lines.push(`    ${ms(step.at).padStart(9)}  ${step.text}`);
    if (step.error) lines.push(`    ${"".padStart(9)}    failed: ${step.error.code ? `${step.error.code} ` : ""}${step.error.message}`);
  }
  if (r.stepsLeftOut > 0) lines.push(`    ${"".padStart(9)}  (${r.stepsLeftOut} more queries and calls not kept)`);
  lines.push(`    ${ms(r.durationMs).padStart(9)}  response ${r.status}`);
  if (r.error) {
    lines.push(`  error: ${r.error.type}${r.error.code ? ` (${r.error.code})` : ""}: ${r.error.message}`);
    if (r.error.appFrame) lines.push(`    in the app at ${r.error.appFrame}`);
    if (r.error.stack.length > 0) lines.push("    stack:", ...r.error.stack.map((f) => `      ${f}`));
  }
  return lines;
}
