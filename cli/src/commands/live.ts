import type { TopResult } from "@seismo/analyzer";
import type { Logger } from "@seismo/daemon";
import { createLogger } from "@seismo/daemon";
import { LiveView } from "../render/live-view.js";
import { renderTopTable, summarizeTop } from "../render/top-table.js";

/** The live output of `run` and `attach`: a redrawn table on a terminal, a line per window elsewhere. */
export function createLiveOutput(interactive: boolean): { view: LiveView; log: Logger; onTop: (top: TopResult) => void } {
  const view = new LiveView(process.stderr, interactive);
  const log = createLogger("seismo", (line) => view.write(process.stderr, `${line}\n`));
  let started = 0;
  const onTop = (top: TopResult): void => {
    started++;
    if (interactive) {
      const title = `── seismo · top functions, last 60 s · ${(top.cpuMs / 1_000).toFixed(1)} s CPU · window ${started} ── (Ctrl-C to stop)`;
      view.update([title.slice(0, view.columns), ...renderTopTable(top, { width: view.columns, cwd: process.cwd() })]);
    } else {
      view.update([
        `[seismo] window ${started}: ${(top.cpuMs / 1_000).toFixed(1)} s CPU in the last 60 s · ${summarizeTop(top, process.cwd())}`,
      ]);
    }
  };
  return { view, log, onTop };
}
