import type { Registry } from "prom-client";
import { Counter } from "prom-client";

/** A counter that follows a running total kept elsewhere. */
export function followTotal(registry: Registry, name: string, help: string, total: () => number, labels?: () => Record<string, number>): Counter {
  let last = 0;
  const lastByLabel = new Map<string, number>();
  return new Counter({
    name,
    help,
    registers: [registry],
    ...(labels ? { labelNames: ["code"] } : {}),
    collect() {
      if (labels) {
        for (const [code, now] of Object.entries(labels())) {
          const before = lastByLabel.get(code) ?? 0;
          if (now > before) this.inc({ code }, now - before);
          lastByLabel.set(code, now);
        }
        return;
      }
      const now = total();
      if (now > last) this.inc(now - last);
      last = now;
    },
  });
}
