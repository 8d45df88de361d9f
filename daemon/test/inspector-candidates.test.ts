import { describe, expect, it } from "vitest";
import { DEFAULT_EPHEMERAL_PORTS, inspectorCandidates } from "../src/inspector/endpoint.js";
import type { ListeningSocket } from "../src/target/listening-sockets.js";

const socket = (port: number): ListeningSocket => ({ address: "127.0.0.1", port, inode: String(port), loopback: true });
const sockets = [socket(3000), socket(8080), socket(9229), socket(9230), socket(41234)];
const ports = (found: ListeningSocket[]): number[] => found.map((s) => s.port);

describe("the sockets that may be the inspector", () => {
  it("is only the port Node's options give it, 9229 when they give none", () => {
    expect(ports(inspectorCandidates(sockets, 9229, DEFAULT_EPHEMERAL_PORTS))).toEqual([9229]);
    expect(ports(inspectorCandidates(sockets, 9230, DEFAULT_EPHEMERAL_PORTS))).toEqual([9230]);
    expect(ports(inspectorCandidates(sockets, 7000, DEFAULT_EPHEMERAL_PORTS))).toEqual([]);
  });

  it("is, for a random port, only those in the range the kernel hands out: never an app's fixed port", () => {
    expect(ports(inspectorCandidates(sockets, 0, DEFAULT_EPHEMERAL_PORTS))).toEqual([41234]);
    expect(ports(inspectorCandidates(sockets, 0, { low: 8000, high: 9229 }))).toEqual([8080, 9229]);
  });
});
