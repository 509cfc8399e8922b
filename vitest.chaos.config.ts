import { defineConfig } from "vitest/config";

/**
 * `npm run test:chaos`: fault injection with real processes (servers and workers killed with
 * kill -9, Redis killed and frozen, Postgres stopped, SIGTERM under load) on a private Postgres
 * and Redis each file starts itself. One file at a time: the scenarios measure recovery times.
 */
export default defineConfig({
  test: {
    include: ["test/chaos/**/*.chaos.test.ts"],
    testTimeout: 180_000,
    hookTimeout: 120_000,
    pool: "forks",
    fileParallelism: false,
  },
});
