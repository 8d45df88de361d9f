import type { SnapshotView } from "@seismo/analyzer";
import { renderValue } from "@seismo/analyzer";

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
