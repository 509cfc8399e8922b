import { z } from "zod";

const intFrom = (name: string, fallback: number, min = 1) =>
  z.coerce
    .number({ message: `${name} must be a number` })
    .int(`${name} must be a whole number`)
    .min(min, `${name} must be at least ${min}`)
    .default(fallback);

const ConfigSchema = z.object({
  PORT: intFrom("PORT", 3030, 0).pipe(z.number().max(65535, "PORT must be at most 65535")),
  HOST: z.string().min(1).default("127.0.0.1"),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "DATABASE_URL must be a postgres:// or postgresql:// URL")
    .optional(),
  REDIS_URL: z.string().regex(/^rediss?:\/\//, "REDIS_URL must be a redis:// or rediss:// URL").optional(),
  SALVO_DATA_DIR: z.string().min(1).default("./.salvo"),
  SALVO_BOOTSTRAP_KEY: z
    .string()
    .regex(/^tr_(dev|stg|prod|preview)_[0-9a-zA-Z]{8,}$/, "SALVO_BOOTSTRAP_KEY must look like tr_dev_<at least 8 letters or digits>")
    .optional(),
  SALVO_SECRET: z.string().min(16, "SALVO_SECRET must be at least 16 characters").optional(),
  SALVO_MAX_BATCH_RUN_COUNT: intFrom("SALVO_MAX_BATCH_RUN_COUNT", 100_000),
  SALVO_MAX_ONESHOT_ITEMS: intFrom("SALVO_MAX_ONESHOT_ITEMS", 1_000),
  SALVO_MAX_ITEM_BYTES: intFrom("SALVO_MAX_ITEM_BYTES", 3 * 1024 * 1024),
  SALVO_MAX_JSON_BODY_BYTES: intFrom("SALVO_MAX_JSON_BODY_BYTES", 32 * 1024 * 1024),
  SALVO_INGEST_CHUNK_ITEMS: intFrom("SALVO_INGEST_CHUNK_ITEMS", 3_000),
  SALVO_PUBLIC_URL: z.url({ message: "SALVO_PUBLIC_URL must be a URL like https://salvo.example.com" }).optional(),
  SALVO_MAX_PACKET_BYTES: intFrom("SALVO_MAX_PACKET_BYTES", 10 * 1024 * 1024),
  SALVO_PACKET_URL_TTL_SECONDS: intFrom("SALVO_PACKET_URL_TTL_SECONDS", 3600),
  SALVO_LEASE_MS: intFrom("SALVO_LEASE_MS", 30_000, 100),
  SALVO_DEFAULT_MAX_ATTEMPTS: intFrom("SALVO_DEFAULT_MAX_ATTEMPTS", 3),
  SALVO_RETRY_BASE_MS: intFrom("SALVO_RETRY_BASE_MS", 1_000, 0),
  SALVO_RETRY_MAX_MS: intFrom("SALVO_RETRY_MAX_MS", 60_000, 0),
  SALVO_SWEEP_INTERVAL_MS: intFrom("SALVO_SWEEP_INTERVAL_MS", 500, 10),
  SALVO_DEQUEUE_MAX_WAIT_MS: intFrom("SALVO_DEQUEUE_MAX_WAIT_MS", 20_000, 0),
  SALVO_WORKER_DISCONNECT_GRACE_MS: intFrom("SALVO_WORKER_DISCONNECT_GRACE_MS", 1_000, 0),
  SALVO_BATCH_RATE_LIMIT_MAX: intFrom("SALVO_BATCH_RATE_LIMIT_MAX", 1_200),
  SALVO_BATCH_RATE_LIMIT_REFILL: intFrom("SALVO_BATCH_RATE_LIMIT_REFILL", 100),
  SALVO_BATCH_RATE_LIMIT_INTERVAL_MS: intFrom("SALVO_BATCH_RATE_LIMIT_INTERVAL_MS", 10_000),
  SALVO_BATCH_SEAL_TIMEOUT_MS: intFrom("SALVO_BATCH_SEAL_TIMEOUT_MS", 30 * 60_000, 10),
  SALVO_MAX_QUEUED_RUNS: z.coerce
    .number({ message: "SALVO_MAX_QUEUED_RUNS must be a number" })
    .int("SALVO_MAX_QUEUED_RUNS must be a whole number")
    .min(1, "SALVO_MAX_QUEUED_RUNS must be at least 1")
    .optional(),
  SALVO_EVENT_RETENTION_HOURS: intFrom("SALVO_EVENT_RETENTION_HOURS", 72),
  SALVO_EVENT_POLL_MS: intFrom("SALVO_EVENT_POLL_MS", 2000, 50),
  SALVO_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

export interface Config {
  port: number;
  host: string;
  databaseUrl?: string;
  redisUrl?: string;
  dataDir: string;
  bootstrapKey?: string;
  /** Master secret that encrypts API keys at rest; absent: one generated and kept in the database. */
  secret?: string;
  limits: {
    /** Largest `runCount` of a two-phase batch. */
    maxBatchRunCount: number;
    /** Most items in one one-shot batch request. */
    maxOneShotItems: number;
    /** Largest NDJSON line (one item), in bytes. */
    maxItemBytes: number;
    /** Largest JSON request body, in bytes. */
    maxJsonBodyBytes: number;
    /** Items written per transaction while a stream is read: the backpressure unit. */
    ingestChunkItems: number;
    /** Default token bucket per environment, charged one token per batch item. */
    batchRateLimit: { maxTokens: number; refillRate: number; intervalMs: number };
    /** A two-phase batch still unsealed this long after creation becomes ABORTED. */
    batchSealTimeoutMs: number;
    /** Most QUEUED runs an environment may have; undefined: unlimited. */
    maxQueuedRuns?: number;
  };
  /** Packets: offloaded payloads, reached through signed URLs (see server/packets/). */
  packets: {
    /** Origin put in front of signed packet URLs; absent: the origin the request came to. */
    publicUrl?: string;
    /** Largest packet upload, in bytes. */
    maxBytes: number;
    /** How long a signed packet URL stays valid. */
    urlTtlSeconds: number;
  };
  execution: {
    /** How long a claimed run stays with its worker without a heartbeat. */
    leaseMs: number;
    /** Attempts for a run whose item sets no `maxAttempts`. */
    defaultMaxAttempts: number;
    /** Backoff before attempt n+1: retryBaseMs × 2^(n-1), at most retryMaxMs (±20 % jitter). */
    retryBaseMs: number;
    retryMaxMs: number;
    /** How often delays, retries, TTLs and leases are checked. */
    sweepIntervalMs: number;
    /** Longest a `worker.dequeue` call waits for work before answering empty. */
    dequeueMaxWaitMs: number;
    /** Runs of a worker whose presence stream closed are reclaimed this long after (unless it reconnects). */
    disconnectGraceMs: number;
  };
  events: {
    /** Events older than this are pruned; a subscriber resuming from before it misses them. */
    retentionHours: number;
    /** Subscriptions re-read this often when no wake-up came (lost wake-ups, Redis down). */
    pollMs: number;
  };
  logLevel: string;
}

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // An empty variable means "not set", as in most shells' `VAR= cmd`.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = ConfigSchema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join("\n")}`);
  }
  const c = parsed.data;
  return {
    port: c.PORT,
    host: c.HOST,
    databaseUrl: c.DATABASE_URL,
    redisUrl: c.REDIS_URL,
    dataDir: c.SALVO_DATA_DIR,
    bootstrapKey: c.SALVO_BOOTSTRAP_KEY,
    secret: c.SALVO_SECRET,
    limits: {
      maxBatchRunCount: c.SALVO_MAX_BATCH_RUN_COUNT,
      maxOneShotItems: c.SALVO_MAX_ONESHOT_ITEMS,
      maxItemBytes: c.SALVO_MAX_ITEM_BYTES,
      maxJsonBodyBytes: c.SALVO_MAX_JSON_BODY_BYTES,
      ingestChunkItems: c.SALVO_INGEST_CHUNK_ITEMS,
      batchRateLimit: {
        maxTokens: c.SALVO_BATCH_RATE_LIMIT_MAX,
        refillRate: c.SALVO_BATCH_RATE_LIMIT_REFILL,
        intervalMs: c.SALVO_BATCH_RATE_LIMIT_INTERVAL_MS,
      },
      batchSealTimeoutMs: c.SALVO_BATCH_SEAL_TIMEOUT_MS,
      maxQueuedRuns: c.SALVO_MAX_QUEUED_RUNS,
    },
    packets: {
      publicUrl: c.SALVO_PUBLIC_URL?.replace(/\/+$/, ""),
      maxBytes: c.SALVO_MAX_PACKET_BYTES,
      urlTtlSeconds: c.SALVO_PACKET_URL_TTL_SECONDS,
    },
    execution: {
      leaseMs: c.SALVO_LEASE_MS,
      defaultMaxAttempts: c.SALVO_DEFAULT_MAX_ATTEMPTS,
      retryBaseMs: c.SALVO_RETRY_BASE_MS,
      retryMaxMs: c.SALVO_RETRY_MAX_MS,
      sweepIntervalMs: c.SALVO_SWEEP_INTERVAL_MS,
      dequeueMaxWaitMs: c.SALVO_DEQUEUE_MAX_WAIT_MS,
      disconnectGraceMs: c.SALVO_WORKER_DISCONNECT_GRACE_MS,
    },
    events: { retentionHours: c.SALVO_EVENT_RETENTION_HOURS, pollMs: c.SALVO_EVENT_POLL_MS },
    logLevel: c.SALVO_LOG_LEVEL,
  };
}
