import { defineConfig } from "vitest/config";

/**
 * Integration files whose assertions are CPU measurements (shares, ratios of
 * time between two processes, spikes over a learned baseline): on 2 cores they
 * need the machine to themselves, so they run one at a time and after the rest.
 * (Unit tests running beside the first of them once turned a clear +30 %
 * regression into noise.) A new file that asserts on CPU belongs here.
 */
// attach-targets asserts the cpu fixture's hot/cold split (75 % within 4 sigma) on each Node line:
// three-wide beside the request-forensics apps it read 65 % on Node 24 in two CI runs of three.
const MEASURING = ["inlining", "inlined-culprits", "spikes", "regressions", "load", "attach-targets"].map((name) => `test/integration/${name}.test.ts`);

// Unit tests are pure and fast. The other integration files start real node
// targets, nats-server and SQLite files and mostly wait on them (a broker
// restart, a detach, a port closing), so three run at once.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["agent-proto/test/**/*.test.ts", "daemon/test/**/*.test.ts", "analyzer/test/**/*.test.ts", "cli/test/**/*.test.ts"],
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          exclude: MEASURING,
          testTimeout: 60_000,
          hookTimeout: 60_000,
          maxWorkers: 3,
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          name: "measuring",
          include: MEASURING,
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
