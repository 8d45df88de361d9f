import type { SeismoEvent, TargetRef } from "../src/index.js";

export const target: TargetRef = {
  targetId: "host-a1b2c3:4242:1763800000000",
  daemonId: "host-a1b2c3",
  service: "shop",
  deployment: "v42",
  pid: 4242,
  host: "node-1",
  pod: "shop-7d9f",
  namespace: "prod",
};

/** One event of each kind with every field set: the golden files are these, encoded. */
export const sampleEvents: Record<SeismoEvent["kind"], SeismoEvent> = {
  hello: {
    kind: "hello",
    sentAtMs: 1_763_800_001_000,
    body: {
      target,
      nodeVersion: "v20.20.2",
      v8Version: "11.3.244.8-node.33",
      processStartMs: 1_763_800_000_000,
      attachedAtMs: 1_763_800_000_500,
      argv: ["/usr/bin/node", "server.js", "--port=8080"],
      seismoVersion: "0.1.0",
      samplingIntervalUs: 10_000,
      windowMs: 10_000,
    },
  },
  heartbeat: {
    kind: "heartbeat",
    sentAtMs: 1_763_800_016_000,
    body: {
      target,
      sentAtMs: 1_763_800_016_000,
      windowsPublished: 1,
      publishFailures: 2,
      messagesDropped: 3,
      messagesBuffered: 4,
      targetCpu: 0.625,
      targetRssBytes: 87_654_321,
    },
  },
  goodbye: {
    kind: "goodbye",
    sentAtMs: 1_763_800_030_000,
    body: { target, atMs: 1_763_800_030_000, reason: "TARGET_EXITED", detail: "exit code 0" },
  },
  profile: {
    kind: "profile",
    sentAtMs: 1_763_800_011_000,
    body: {
      windowId: `${target.targetId}:0`,
      target,
      sequence: 0,
      startMs: 1_763_800_001_000,
      endMs: 1_763_800_011_000,
      samplingIntervalUs: 10_000,
      totalSamples: 1_000,
      cpuUs: 6_000_000,
      idleUs: 3_900_000,
      gcUs: 100_000,
      programUs: 50_000,
      truncatedFunctions: 0,
      // Zero, so these bytes are also what a v1 daemon from before the field sent (see codec.test.ts).
      sensorUs: 0,
      functions: [
        {
          name: "hotFunction",
          scriptUrl: "file:///app/server.js",
          filePath: "/app/server.js",
          line: 11,
          column: 21,
          packageName: "",
          packageVersion: "",
          selfSamples: 450,
          totalSamples: 450,
          selfUs: 4_500_000,
          totalUs: 4_500_000,
          hotLines: [
            { line: 15, samples: 440 },
            { line: 14, samples: 10 },
          ],
        },
        {
          name: "_encipher",
          scriptUrl: "file:///app/node_modules/bcryptjs/umd/index.js",
          filePath: "/app/node_modules/bcryptjs/umd/index.js",
          line: 796,
          column: 3,
          packageName: "bcryptjs",
          packageVersion: "3.0.3",
          selfSamples: 150,
          totalSamples: 150,
          selfUs: 1_500_000,
          totalUs: 1_500_000,
          hotLines: [],
        },
      ],
    },
  },
};
