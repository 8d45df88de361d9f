import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Goodbye } from "../src/index.js";
import { decodeEvent, EventKinds, encodeEvent, isSeismoError } from "../src/index.js";
import { sampleEvents } from "./sample-events.js";

const goldenDir = join(import.meta.dirname, "golden");

// The golden files are committed: a change of bytes is a wire-format change, which v1
// must never make. Only when adding a message kind or a field, regenerate them with
// SEISMO_WRITE_GOLDEN=1 npx vitest run agent-proto/test/codec.test.ts
if (process.env.SEISMO_WRITE_GOLDEN === "1") {
  for (const kind of EventKinds)
    writeFileSync(join(goldenDir, `${kind}.v1.hex`), `${Buffer.from(encodeEvent(sampleEvents[kind])).toString("hex")}\n`);
}

function golden(kind: string): Uint8Array {
  return new Uint8Array(Buffer.from(readFileSync(join(goldenDir, `${kind}.v1.hex`), "utf8").trim(), "hex"));
}

describe("codec golden bytes", () => {
  for (const kind of EventKinds) {
    it(`encodes a ${kind} event to the committed bytes and decodes them back`, () => {
      const event = sampleEvents[kind];
      expect(Buffer.from(encodeEvent(event)).toString("hex")).toBe(Buffer.from(golden(kind)).toString("hex"));
      expect(decodeEvent(golden(kind), kind)).toEqual(event);
    });
  }
});

describe("codec compatibility", () => {
  it("reads a field added after the golden bytes were written (sensor_us) from old bytes as 0, and new bytes back", () => {
    const old = decodeEvent(golden("profile"), "profile");
    expect(old.kind === "profile" && old.body.sensorUs).toBe(0);
    const withField = { ...sampleEvents.profile, body: { ...sampleEvents.profile.body, sensorUs: 12_345 } } as typeof sampleEvents.profile;
    const decoded = decodeEvent(encodeEvent(withField), "profile");
    expect(decoded.kind === "profile" && decoded.body.sensorUs).toBe(12_345);
  });

  it("reads endpoints and outgoing calls (added later) from old bytes as none, and new bytes back exactly", () => {
    const old = decodeEvent(golden("profile"), "profile");
    expect(old.kind === "profile" && old.body.endpoints).toEqual([]);
    const endpoint = { method: "GET", route: "/orders/:id", status: 200, count: 3, totalMs: 7.5, maxMs: 4.25, bucketIndexes: [44, 50], bucketCounts: [2, 1], routeTemplate: true, host: "", sampledEvery: 4 };
    const call = { ...endpoint, route: "/v1/charges/:id", host: "api.stripe.com", status: 0, routeTemplate: false };
    const withField = { ...sampleEvents.profile, body: { ...sampleEvents.profile.body, endpoints: [endpoint], outgoing: [call] } } as typeof sampleEvents.profile;
    const decoded = decodeEvent(encodeEvent(withField), "profile");
    expect(decoded.kind === "profile" && decoded.body.endpoints).toEqual([endpoint]);
    expect(decoded.kind === "profile" && decoded.body.outgoing).toEqual([call]);
  });

  it("reads a goodbye's inspector warning (added later) from old bytes as none, and new bytes back", () => {
    const old = decodeEvent(golden("goodbye"), "goodbye");
    expect(old.kind === "goodbye" && old.body.inspectorWarning).toBe(false);
    const body: Goodbye = { ...(sampleEvents.goodbye.body as Goodbye), reason: "DAEMON_STOPPED", detail: "Seismo COULD NOT CLOSE the inspector (port 9229) it had opened", inspectorWarning: true };
    const decoded = decodeEvent(encodeEvent({ kind: "goodbye", sentAtMs: sampleEvents.goodbye.sentAtMs, body }), "goodbye");
    expect(decoded.body).toEqual(body);
  });
});

describe("codec errors", () => {
  const codeOf = (fn: () => unknown): string => {
    try {
      fn();
    } catch (error) {
      if (isSeismoError(error)) return error.code;
      throw error;
    }
    throw new Error("expected a SeismoError");
  };

  it("rejects bytes that are not protobuf", () => {
    expect(codeOf(() => decodeEvent(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f])))).toBe("SEISMO_DECODE_MALFORMED");
  });

  it("rejects valid protobuf with no body or another schema version", () => {
    expect(codeOf(() => decodeEvent(new Uint8Array([0x08, 0x01])))).toBe("SEISMO_DECODE_MALFORMED");
    expect(codeOf(() => decodeEvent(new Uint8Array([0x08, 0x02])))).toBe("SEISMO_DECODE_MALFORMED");
    expect(codeOf(() => decodeEvent(new TextEncoder().encode("hello world")))).toBe("SEISMO_DECODE_MALFORMED");
  });

  it("rejects an event that decodes but lacks what storing it needs: a target, its id and service, the window's id", () => {
    for (const kind of EventKinds) {
      const event = sampleEvents[kind];
      const body = event.body as unknown as Record<string, unknown>;
      const without = (change: Record<string, unknown>) => encodeEvent({ ...event, body: { ...body, ...change } } as unknown as typeof event);
      expect(() => decodeEvent(without({ target: undefined }), kind), kind).toThrow(/without a target cannot be stored/);
      expect(codeOf(() => decodeEvent(without({ target: { ...(body.target as object), targetId: "" } }), kind)), kind).toBe("SEISMO_DECODE_MALFORMED");
      expect(decodeEvent(encodeEvent(event), kind).kind).toBe(kind);
    }
    const profile = sampleEvents.profile;
    expect(() => decodeEvent(encodeEvent({ ...profile, body: { ...profile.body, windowId: "" } } as typeof profile), "profile")).toThrow(/without a window id/);
  });

  it("rejects a body that disagrees with the subject's kind", () => {
    expect(codeOf(() => decodeEvent(golden("hello"), "profile"))).toBe("SEISMO_SUBJECT_INVALID");
  });

  it("refuses to encode or decode past the size limit", () => {
    expect(codeOf(() => encodeEvent(sampleEvents.profile, { maxBytes: 100 }))).toBe("SEISMO_MESSAGE_TOO_LARGE");
    expect(codeOf(() => decodeEvent(golden("profile"), "profile", { maxBytes: 100 }))).toBe("SEISMO_MESSAGE_TOO_LARGE");
  });

  it("refuses to encode a field of the wrong type", () => {
    const bad = { ...sampleEvents.heartbeat, body: { ...sampleEvents.heartbeat.body, windowsPublished: "many" } };
    expect(codeOf(() => encodeEvent(bad as never))).toBe("SEISMO_DECODE_MALFORMED");
  });
});
