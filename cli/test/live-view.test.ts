import { describe, expect, it } from "vitest";
import { LiveView } from "../src/render/live-view.js";

/** A stand-in for a terminal stream: our own interface, recording what was written. */
function sink(): NodeJS.WriteStream & { text: string } {
  const s = { text: "", columns: 80, write: (chunk: string) => ((s.text += chunk), true) };
  return s as unknown as NodeJS.WriteStream & { text: string };
}

describe("LiveView", () => {
  it("on a terminal, erases the table, writes whole app lines above it, and redraws it", () => {
    const out = sink();
    const app = sink();
    const view = new LiveView(out, true);
    view.update(["table 1", "row"]);
    view.write(app, "partial ");
    expect(app.text).toBe(""); // held until the line is complete
    view.write(app, "line\nnext");
    expect(app.text).toBe("partial line\n");
    expect(out.text).toBe("table 1\nrow\n\x1b[2A\x1b[0Jtable 1\nrow\n");
    view.update(["table 2"]);
    expect(out.text.endsWith("\x1b[2A\x1b[0Jtable 2\n")).toBe(true);
    view.close();
    expect(app.text).toBe("partial line\nnext\n");
  });

  it("elsewhere, passes app output through untouched and prints the table as plain lines", () => {
    const out = sink();
    const app = sink();
    const view = new LiveView(out, false);
    view.write(app, "no newline");
    view.update(["[seismo] window 1"]);
    expect(app.text).toBe("no newline");
    expect(out.text).toBe("[seismo] window 1\n");
  });
});
