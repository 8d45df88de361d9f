import { describe, expect, it } from "vitest";
import { parseCapturePayload, parseDrained } from "../src/capture/capture-payload.js";

const snapshot = { id: "p1", hit: 1, at: 1_700_000_000_000, costUs: 120, locals: [{ n: "order", t: "Object", c: [{ n: "qty", t: "number", v: "3" }] }], stack: ["priceOrder (/app/a.js:3:1)"], last: false };

describe("the capture binding's payloads, checked at the boundary", () => {
  it("reads the three messages the capture code sends", () => {
    expect(parseCapturePayload(JSON.stringify(snapshot))).toEqual({ kind: "snapshot", snapshot });
    expect(parseCapturePayload(JSON.stringify({ id: "p1", removed: "ttl" }))).toEqual({ kind: "removed", removal: { id: "p1", removed: "ttl" } });
    const thrown = { thrown: { name: "RangeError", message: "qty", stack: [], origin: "uncaughtException", at: 1 }, captured: snapshot };
    expect(parseCapturePayload(JSON.stringify(thrown))).toEqual({ kind: "thrown", thrown });
  });

  it("drops what the capture code never sends: not JSON, wrong types, unknown removals, trees past any limit", () => {
    expect(parseCapturePayload("{not json")).toBeUndefined();
    expect(parseCapturePayload("[]")).toBeUndefined();
    expect(parseCapturePayload(JSON.stringify({ ...snapshot, hit: "1" }))).toBeUndefined();
    expect(parseCapturePayload(JSON.stringify({ ...snapshot, locals: [{ n: "x" }] }))).toBeUndefined();
    expect(parseCapturePayload(JSON.stringify({ ...snapshot, stack: [42] }))).toBeUndefined();
    expect(parseCapturePayload(JSON.stringify({ id: "p1", removed: "because" }))).toBeUndefined();
    expect(parseCapturePayload(JSON.stringify({ thrown: { name: "E" } }))).toBeUndefined();
    let deep: Record<string, unknown> = { t: "Object" };
    for (let i = 0; i < 40; i++) deep = { t: "Object", c: [deep] };
    expect(parseCapturePayload(JSON.stringify({ ...snapshot, locals: [deep] }))).toBeUndefined();
  });

  it("a fetch of the target's queue: each message checked, the bad ones counted, not the whole fetch lost", () => {
    const removal = { id: "p1", removed: "hits" };
    expect(parseDrained({ armed: 0, messages: [snapshot, { ...snapshot, hit: "2" }, removal], dropped: 4, droppedThrown: 1 })).toEqual({
      armed: 0,
      messages: [{ kind: "snapshot", snapshot }, { kind: "removed", removal }],
      invalid: 1,
      dropped: 4,
      droppedThrown: 1,
    });
    expect(parseDrained(null)).toBeUndefined();
    expect(parseDrained({ armed: 0, messages: "[]", dropped: 0, droppedThrown: 0 })).toBeUndefined();
    expect(parseDrained({ armed: 1, messages: [] })).toBeUndefined();
  });
});
