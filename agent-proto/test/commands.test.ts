import { describe, expect, it } from "vitest";
import { answer, COMMAND_VERSION } from "../src/commands.js";

const command = (body: Record<string, unknown>): string =>
  JSON.stringify({ v: COMMAND_VERSION, id: "c-1", deadlineMs: Date.now() + 10_000, body: { kind: "arm", targetId: "t-1", trigger: "manual", file: "/app/a.js", ...body } });

describe("an arm command", () => {
  it("reaches the handler with its rate, hits and time-to-live", async () => {
    const reply = await answer(command({ functionName: "lineTotal", hits: 100, ttlMs: 60_000, minIntervalMs: 100 }), async (c) => ({ id: c.id, ok: true, result: { probeId: String(c.body.minIntervalMs), file: c.body.file, line: c.body.hits ?? 0, functionName: c.body.functionName ?? "" } }));
    expect(reply).toEqual({ id: "c-1", ok: true, result: { probeId: "100", file: "/app/a.js", line: 100, functionName: "lineTotal" } });
  });

  it("with a number that is not one is refused with what is wrong, and the handler never runs", async () => {
    let ran = false;
    const handler = async (): Promise<never> => {
      ran = true;
      throw new Error("must not run");
    };
    for (const [field, value] of [["minIntervalMs", "100"], ["hits", -1], ["ttlMs", null], ["line", "12"]] as const) {
      const reply = await answer(command({ [field]: value }), handler);
      expect(reply.ok).toBe(false);
      expect(reply.error?.code).toBe("SEISMO_DECODE_MALFORMED");
      expect(reply.error?.message).toContain(field);
    }
    expect(ran).toBe(false);
  });
});
