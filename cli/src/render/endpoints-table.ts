import type { EndpointFigures } from "@seismo/analyzer";

/** "3.2ms", "840ms", "12.4s"; "-" when unknown. */
export function latency(ms: number): string {
  if (!Number.isFinite(ms)) return "-";
  if (ms < 10) return `${ms.toFixed(1)}ms`;
  return ms >= 10_000 ? `${(ms / 1_000).toFixed(1)}s` : `${Math.round(ms)}ms`;
}

function rate(perSec: number): string {
  return perSec >= 10 ? `${Math.round(perSec)}/s` : perSec >= 0.1 ? `${perSec.toFixed(1)}/s` : `${(perSec * 60).toFixed(1)}/min`;
}

/** The `seismo endpoints` table, one string per line. Pure. */
export function renderEndpointsTable(endpoints: EndpointFigures[], options: { width?: number; showService?: boolean; direction?: "in" | "out" | "db" } = {}): string[] {
  const width = options.width ?? 120;
  const direction = options.direction ?? "in";
  const header = ["CALLS", "RATE", direction === "in" ? "5XX" : "ERR", "P50", "P95", "P99", "MAX", ...(options.showService ? ["SERVICE"] : []), { in: "ENDPOINT", out: "CALL", db: "DATABASE  STATEMENT" }[direction]];
  const rows = endpoints.map((e) => [
    // "~": estimated, one request in N timed under heavy traffic.
    `${e.estimated ? "~" : ""}${e.calls}`,
    rate(e.ratePerSec),
    e.errors === 0 ? "0" : `${(e.errorRate * 100).toFixed(e.errorRate < 0.1 ? 1 : 0)}%`,
    latency(e.p50Ms),
    latency(e.p95Ms),
    latency(e.p99Ms),
    latency(e.maxMs),
    ...(options.showService ? [e.service] : []),
    direction === "db" ? `${e.host}  ${e.route}` : `${e.method} ${e.host}${e.route}`,
  ]);
  const all = [header, ...rows];
  const numeric = header.length - (options.showService ? 2 : 1);
  const widths = header.map((_, col) => Math.max(...all.map((r) => (r[col] as string).length)));
  return all.map((cells) =>
    cells
      .map((cell, col) => (col < numeric ? cell.padStart(widths[col] as number) : col === cells.length - 1 ? cell : cell.padEnd(widths[col] as number)))
      .join("  ")
      .slice(0, width)
      .trimEnd(),
  );
}
