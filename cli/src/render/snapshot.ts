import type { CapturedValue } from "@seismo/agent-proto";
import type { SnapshotView } from "@seismo/analyzer";

const CUTS: Record<string, string> = {
  depth: "deeper levels not captured",
  fields: "more fields",
  items: "more items",
  length: "more characters",
  bytes: "snapshot size limit reached",
  time: "capture time budget reached",
  redacted: "redacted",
};

function cut(value: CapturedValue): string {
  if (!value.truncated || value.truncated === "redacted") return "";
  const what = CUTS[value.truncated] ?? value.truncated;
  return value.omitted > 0 ? `  … (${value.omitted} ${what})` : `  … (${what})`;
}

function scalar(value: CapturedValue): string {
  if (value.type === "string") return JSON.stringify(value.value);
  if (value.type === "undefined" || value.type === "null") return value.type;
  if (value.type === "unavailable") return "(not readable here)";
  if (value.type === "accessor") return "(getter, not called)";
  if (["number", "boolean", "bigint", "symbol"].includes(value.type)) return value.value;
  return value.value ? `${value.type} ${value.value}` : value.type;
}

/** A value tree as indented lines: `name: value`, children below, cuts marked. */
export function renderValue(value: CapturedValue, indent = "  "): string[] {
  const lines = [`${indent}${value.name}: ${scalar(value)}${cut(value)}`];
  for (const child of value.children) lines.push(...renderValue(child, `${indent}  `));
  return lines;
}

function triggerText(s: SnapshotView): string {
  if (s.trigger === "manual") return "armed by hand";
  if (s.trigger.startsWith("error:")) return s.hit === 0 ? "first occurrence: no values (the stack had unwound); its next one is captured" : "the exception thrown again";
  return `armed by ${s.trigger}`;
}

export function renderSnapshot(s: SnapshotView): string[] {
  if (s.trigger.startsWith("error:") && s.hit === 0) {
    return [
      `${s.error}`,
      `  thrown in ${s.functionName || "(unknown)"} at ${s.file ? `${s.file}:${s.line}` : "(no stack)"}, ${s.capturedAt}, ${s.service}${s.deployment ? ` ${s.deployment}` : ""}; ${triggerText(s)}`,
      ...(s.stack.length > 0 ? ["  stack:", ...s.stack.map((f) => `    ${f}`)] : []),
    ];
  }
  const lines = [
    ...(s.error ? [s.error] : []),
    `${s.functionName} at ${s.file}:${s.line}, ${s.capturedAt}, hit ${s.hit}${s.last ? " (last)" : ""}, ${s.service}${s.deployment ? ` ${s.deployment}` : ""}; capture took ${s.captureCostUs} µs; ${triggerText(s)}`,
  ];
  for (const local of s.locals) lines.push(...renderValue(local));
  if (s.thisValue) lines.push(...renderValue(s.thisValue));
  if (s.stack.length > 0) lines.push("  stack:", ...s.stack.map((f) => `    ${f}`));
  return lines;
}
