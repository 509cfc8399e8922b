/**
 * Everything the bench can be told, from the environment. Defaults fit the 10-minute budget on a
 * 2-core machine; BENCH_QUICK=1 is a smoke run (few repetitions, smaller streams).
 */
const int = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative whole number, got "${raw}"`);
  return n;
};

const quick = process.env.BENCH_QUICK === "1";

export const benchConfig = {
  quick,
  /** The database the bench may use; each system gets a fresh database named after it. */
  databaseUrl:
    process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/salvo_bench",
  redisUrl: process.env.BENCH_REDIS_URL ?? process.env.REDIS_URL ?? "redis://127.0.0.1:6379",
  /** BENCH_ONLY=1,2 runs only those scenarios (1-4 by default; 5 and 6, storage at scale, only when named). */
  only: new Set((process.env.BENCH_ONLY ?? "1,2,3,4").split(",").map((s) => Number(s.trim()))),
  /** Port of the Salvo server process the bench starts. */
  salvoPort: int("BENCH_SALVO_PORT", 3931),
  oneShot: {
    items: 1000,
    warmup: int("BENCH_ONESHOT_WARMUP", quick ? 1 : 3),
    reps: int("BENCH_ONESHOT_REPS", quick ? 3 : 15),
  },
  stream: {
    items: int("BENCH_STREAM_ITEMS", quick ? 20_000 : 100_000),
    warmup: int("BENCH_STREAM_WARMUP", 1),
    reps: int("BENCH_STREAM_REPS", quick ? 1 : 3),
    /** The flat-memory check; 0 skips it. */
    bigItems: int("BENCH_STREAM_BIG_ITEMS", quick ? 0 : 1_000_000),
  },
  /** Scenario 5: bytes per stored run, in each system (BENCH_SIZE_RUNS jobs). */
  storage: {
    runs: int("BENCH_SIZE_RUNS", quick ? 20_000 : 1_000_000),
    /** Runs executed to measure the outbox's growth per executed run. */
    executedRuns: int("BENCH_SIZE_EXECUTED_RUNS", quick ? 2_000 : 20_000),
  },
  /**
   * Scenario 6: the costs of common calls with BENCH_FLAT_RUNS runs stored (built with COPY) against
   * an empty database. 10^7 takes ~10 GB of disk and ~4 minutes to build on 2 busy cores; BENCH_FLAT_RUNS=1000000
   * is the quicker look.
   */
  flat: {
    runs: int("BENCH_FLAT_RUNS", quick ? 100_000 : 10_000_000),
    reps: int("BENCH_FLAT_REPS", quick ? 5 : 40),
    /**
     * BENCH_FLAT_REUSE=1 keeps the large database an earlier run built (`<db>_flat_large`) instead
     * of building it again; it needs the same BENCH_SALVO_KEY as that run.
     */
    reuse: process.env.BENCH_FLAT_REUSE === "1",
  },
  drain: {
    jobs: int("BENCH_DRAIN_JOBS", quick ? 2_000 : 20_000),
    concurrency: 10,
    warmupJobs: int("BENCH_DRAIN_WARMUP_JOBS", quick ? 200 : 1_000),
    reps: int("BENCH_DRAIN_REPS", 1),
  },
};
export type BenchConfig = typeof benchConfig;
