import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Live tests open real sockets and child processes; two cores do best with a small pool.
    maxWorkers: 2,
  },
});
