import { defineConfig } from "vitest/config";

// Unit tests are pure and fast; integration tests start real node targets,
// nats-server and SQLite files, so they run one file at a time on 2 cores.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["agent-proto/test/**/*.test.ts", "daemon/test/**/*.test.ts", "analyzer/test/**/*.test.ts", "cli/test/**/*.test.ts"],
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
