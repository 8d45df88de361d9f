import type { CapturedValue } from "@seismo/agent-proto";

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
