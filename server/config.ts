import { z } from "zod";
import { parseDurationSeconds } from "../shared/durations.js";

const intFrom = (name: string, fallback: number, min = 1) =>
  z.coerce
    .number({ message: `${name} must be a number` })
    .int(`${name} must be a whole number`)
    .min(min, `${name} must be at least ${min}`)
    .default(fallback);

/**
 * Public tokens are HMAC-signed with a secret key (as in Trigger.dev), so anyone holding one token
 * can test guesses of the key offline: the key itself must be too long and too random to guess.
 * Generated keys have 24 random characters from 62; a bootstrap key needs at least 20, not all
 * alike (at least 10 different ones rules out `aaaa…` and `0000…` padding).
 */
const MIN_KEY_BODY = 20;
const MIN_DISTINCT_KEY_CHARACTERS = 10;
const strongKeyBody = (key: string) => {
  const body = key.slice(key.indexOf("_", 3) + 1);
  return body.length >= MIN_KEY_BODY && new Set(body).size >= MIN_DISTINCT_KEY_CHARACTERS;
};
const BOOTSTRAP_KEY_TOO_WEAK =
  `SALVO_BOOTSTRAP_KEY needs at least ${MIN_KEY_BODY} random letters or digits after its prefix (tr_dev_, tr_prod_, …; ` +
  `at least ${MIN_DISTINCT_KEY_CHARACTERS} different ones): public tokens are signed with this key, so a short one can be ` +
  `guessed offline from any token. Leave it unset to have a key generated, or use e.g. tr_dev_$(openssl rand -hex 16)`;

const ConfigSchema = z.object({
  PORT: intFrom("PORT", 3030, 0).pipe(z.number().max(65535, "PORT must be at most 65535")),
  HOST: z.string().min(1).default("127.0.0.1"),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, "DATABASE_URL must be a postgres:// or postgresql:// URL")
    .optional(),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, "REDIS_URL must be a redis:// or rediss:// URL")
    .optional(),
  SALVO_DATA_DIR: z.string().min(1).default("./.salvo"),
  SALVO_BOOTSTRAP_KEY: z
    .string()
    .regex(/^tr_(dev|stg|prod|preview)_[0-9a-zA-Z]+$/, "SALVO_BOOTSTRAP_KEY must look like tr_dev_<letters and digits>")
    .refine(strongKeyBody, BOOTSTRAP_KEY_TOO_WEAK)
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
  SALVO_MAX_TOKEN_TTL_SECONDS: intFrom("SALVO_MAX_TOKEN_TTL_SECONDS", 86_400, 60),
  SALVO_AUTH_CACHE_MS: intFrom("SALVO_AUTH_CACHE_MS", 1_000, 0),
  SALVO_LEASE_MS: intFrom("SALVO_LEASE_MS", 30_000, 100),
  SALVO_DEFAULT_MAX_ATTEMPTS: intFrom("SALVO_DEFAULT_MAX_ATTEMPTS", 3),
  SALVO_RETRY_BASE_MS: intFrom("SALVO_RETRY_BASE_MS", 1_000, 0),
  SALVO_RETRY_MAX_MS: intFrom("SALVO_RETRY_MAX_MS", 60_000, 0),
  SALVO_SWEEP_INTERVAL_MS: intFrom("SALVO_SWEEP_INTERVAL_MS", 500, 10),
  SALVO_DEQUEUE_MAX_WAIT_MS: intFrom("SALVO_DEQUEUE_MAX_WAIT_MS", 20_000, 0),
  SALVO_WORKER_DISCONNECT_GRACE_MS: intFrom("SALVO_WORKER_DISCONNECT_GRACE_MS", 1_000, 0),
  SALVO_UNSERVED_AFTER_MS: intFrom("SALVO_UNSERVED_AFTER_MS", 60_000, 100),
  SALVO_BATCH_RATE_LIMIT_MAX: intFrom("SALVO_BATCH_RATE_LIMIT_MAX", 1_200),
  SALVO_BATCH_RATE_LIMIT_REFILL: intFrom("SALVO_BATCH_RATE_LIMIT_REFILL", 100),
  SALVO_BATCH_RATE_LIMIT_INTERVAL_MS: intFrom("SALVO_BATCH_RATE_LIMIT_INTERVAL_MS", 10_000),
  SALVO_RATE_LIMIT_MAX: intFrom("SALVO_RATE_LIMIT_MAX", 3_000),
  SALVO_RATE_LIMIT_REFILL: intFrom("SALVO_RATE_LIMIT_REFILL", 1_000),
  SALVO_RATE_LIMIT_INTERVAL_MS: intFrom("SALVO_RATE_LIMIT_INTERVAL_MS", 10_000),
  SALVO_BATCH_SEAL_TIMEOUT_MS: intFrom("SALVO_BATCH_SEAL_TIMEOUT_MS", 30 * 60_000, 10),
  SALVO_MAX_QUEUED_RUNS: z.coerce
    .number({ message: "SALVO_MAX_QUEUED_RUNS must be a number" })
    .int("SALVO_MAX_QUEUED_RUNS must be a whole number")
    .min(1, "SALVO_MAX_QUEUED_RUNS must be at least 1")
    .optional(),
  SALVO_RUN_RETENTION: z
    .string()
    .default("30d")
    .refine(
      (v) => v.trim() === "0" || parseDurationSeconds(v) !== undefined,
      "SALVO_RUN_RETENTION must be a duration like 30d, 12h, 2w or 90m (0 keeps everything)",
    ),
  SALVO_RETENTION_INTERVAL_MS: intFrom("SALVO_RETENTION_INTERVAL_MS", 60_000, 10),
  SALVO_EVENT_RETENTION_HOURS: intFrom("SALVO_EVENT_RETENTION_HOURS", 72),
  SALVO_EVENT_POLL_MS: intFrom("SALVO_EVENT_POLL_MS", 2000, 50),
  SALVO_DEBUG_ERRORS: z
    .enum(["0", "1", "false", "true"], { message: "SALVO_DEBUG_ERRORS must be 1, 0, true or false" })
    .default("0"),
  SALVO_IDLE_TIMEOUT_MS: intFrom("SALVO_IDLE_TIMEOUT_MS", 60_000, 1_000),
  SALVO_HEADERS_TIMEOUT_MS: intFrom("SALVO_HEADERS_TIMEOUT_MS", 20_000, 500),
  SALVO_MAX_CONNECTIONS: intFrom("SALVO_MAX_CONNECTIONS", 10_000),
  SALVO_MAX_SUBSCRIPTIONS_PER_ENVIRONMENT: intFrom("SALVO_MAX_SUBSCRIPTIONS_PER_ENVIRONMENT", 2_000),
  SALVO_MAX_SUBSCRIPTIONS_PER_TOKEN: intFrom("SALVO_MAX_SUBSCRIPTIONS_PER_TOKEN", 1_000),
  SALVO_SHUTDOWN_GRACE_MS: intFrom("SALVO_SHUTDOWN_GRACE_MS", 10_000, 0),
  SALVO_DB_CONNECT_TIMEOUT_MS: intFrom("SALVO_DB_CONNECT_TIMEOUT_MS", 5_000, 100),
  SALVO_DB_STATEMENT_TIMEOUT_MS: intFrom("SALVO_DB_STATEMENT_TIMEOUT_MS", 30_000, 0),
  SALVO_LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  SALVO_METRICS_TOKEN: z.string().min(16, "SALVO_METRICS_TOKEN must be at least 16 characters").optional(),
  SALVO_METRICS_QUEUE_REFRESH_MS: intFrom("SALVO_METRICS_QUEUE_REFRESH_MS", 15_000, 0),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url({ message: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT must be a URL" }).optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ message: "OTEL_EXPORTER_OTLP_ENDPOINT must be a URL" }).optional(),
  OTEL_SERVICE_NAME: z.string().min(1).default("salvo"),
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
    /** Token bucket per environment, charged one token per authenticated API request (workers' calls excepted). */
    requestRateLimit: { maxTokens: number; refillRate: number; intervalMs: number };
    /** A two-phase batch still unsealed this long after creation becomes ABORTED. */
    batchSealTimeoutMs: number;
    /** Most QUEUED runs an environment may have; undefined: unlimited. */
    maxQueuedRuns?: number;
  };
  /** Packets: offloaded payloads, reached through signed URLs (see server/packets/). */
  packets: {
    /**
     * Origin put in front of signed packet URLs; absent (only allowed on a loopback HOST): the
     * address the server listens on. Never the request's Host header, which the caller chooses.
     */
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
    /** Runs of a task queued this long with no connected worker serving it are reported (progress, log). */
    unservedAfterMs: number;
  };
  retention: {
    /**
     * Finished runs and final batches are deleted this long after they finished
     * (`SALVO_RUN_RETENTION`); 0 keeps everything. See server/lifecycle/retention.ts.
     */
    runMs: number;
    /** How often the retention task looks for what it may delete. */
    intervalMs: number;
  };
  events: {
    /** Events older than this are pruned; a subscriber resuming from before it misses them. */
    retentionHours: number;
    /** Subscriptions re-read this often when no wake-up came (lost wake-ups, Redis down). */
    pollMs: number;
  };
  /** What one client may hold open (server/limits/connection-limits.ts, subscription-slots.ts). */
  connections: {
    /** A connection with nothing read or written this long is closed (slow or stalled bodies). */
    idleTimeoutMs: number;
    /** Longest a request's headers may take to arrive, however steadily they trickle. */
    headersTimeoutMs: number;
    /** Most open connections; further ones are closed as they arrive. */
    maxConnections: number;
    /** Most live subscriptions per environment, and per key or token, in one server process. */
    maxSubscriptionsPerEnvironment: number;
    maxSubscriptionsPerToken: number;
  };
  tokens: {
    /** Longest lifetime (exp − iat) of a public access token, minted here or presented. */
    maxTtlSeconds: number;
    /**
     * How long an accepted secret key is trusted without asking the database again: the bound on
     * how late a revocation whose announcement never arrived takes effect (0: no cache).
     */
    keyCacheMs: number;
  };
  /** On SIGTERM, how long requests in flight get to finish before they are cut (and roll back). */
  shutdownGraceMs: number;
  /** Longest a request waits for a Postgres connection before it fails with a 503. */
  dbConnectTimeoutMs: number;
  /** Longest a statement of the server's pool may run before it fails with a 503 (migrations have none); 0: none. */
  dbStatementTimeoutMs: number;
  logLevel: string;
  /** `GET /metrics` (server/http/metrics-route.ts). */
  metrics: {
    /** Set: every scrape needs `Authorization: Bearer <token>`. Unset: only loopback scrapers are answered. */
    token?: string;
    /** Per-queue gauges are counted at most this often (a scrape in between gets the last counts). */
    queueRefreshMs: number;
  };
  /** OpenTelemetry traces (server/observability/tracing.ts): off without an endpoint. */
  tracing: {
    /** Where spans are sent, OTLP over HTTP (JSON): the traces URL itself. */
    endpoint?: string;
    serviceName: string;
  };
  /** Error answers carry stacks and internal messages (development only: they expose file paths and internals). */
  debugErrors: boolean;
}

export class ConfigError extends Error {}

/** Addresses only this machine can reach: there the listen address is a usable origin for signed URLs. */
const isLoopback = (host: string) => host === "localhost" || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host);

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // An empty variable means "not set", as in most shells' `VAR= cmd`.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = ConfigSchema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join("\n")}`);
  }
  const c = parsed.data;
  if (c.SALVO_IDLE_TIMEOUT_MS <= c.SALVO_DEQUEUE_MAX_WAIT_MS + 1_000) {
    throw new ConfigError(
      `Invalid configuration:\n  SALVO_IDLE_TIMEOUT_MS (${c.SALVO_IDLE_TIMEOUT_MS}) must exceed SALVO_DEQUEUE_MAX_WAIT_MS (${c.SALVO_DEQUEUE_MAX_WAIT_MS}) ` +
        "by more than a second: a worker's dequeue is silent while it waits for work",
    );
  }
  if (!c.SALVO_PUBLIC_URL && !isLoopback(c.HOST)) {
    throw new ConfigError(
      `Invalid configuration:\n  SALVO_PUBLIC_URL is required when HOST is not a loopback address (HOST is ${c.HOST}): ` +
        "signed packet URLs must point at an origin you chose, not at whatever Host header a request carries",
    );
  }
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
      requestRateLimit: {
        maxTokens: c.SALVO_RATE_LIMIT_MAX,
        refillRate: c.SALVO_RATE_LIMIT_REFILL,
        intervalMs: c.SALVO_RATE_LIMIT_INTERVAL_MS,
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
      unservedAfterMs: c.SALVO_UNSERVED_AFTER_MS,
    },
    retention: {
      runMs: c.SALVO_RUN_RETENTION.trim() === "0" ? 0 : parseDurationSeconds(c.SALVO_RUN_RETENTION)! * 1000,
      intervalMs: c.SALVO_RETENTION_INTERVAL_MS,
    },
    events: { retentionHours: c.SALVO_EVENT_RETENTION_HOURS, pollMs: c.SALVO_EVENT_POLL_MS },
    connections: {
      idleTimeoutMs: c.SALVO_IDLE_TIMEOUT_MS,
      headersTimeoutMs: c.SALVO_HEADERS_TIMEOUT_MS,
      maxConnections: c.SALVO_MAX_CONNECTIONS,
      maxSubscriptionsPerEnvironment: c.SALVO_MAX_SUBSCRIPTIONS_PER_ENVIRONMENT,
      maxSubscriptionsPerToken: c.SALVO_MAX_SUBSCRIPTIONS_PER_TOKEN,
    },
    tokens: { maxTtlSeconds: c.SALVO_MAX_TOKEN_TTL_SECONDS, keyCacheMs: c.SALVO_AUTH_CACHE_MS },
    shutdownGraceMs: c.SALVO_SHUTDOWN_GRACE_MS,
    dbConnectTimeoutMs: c.SALVO_DB_CONNECT_TIMEOUT_MS,
    dbStatementTimeoutMs: c.SALVO_DB_STATEMENT_TIMEOUT_MS,
    logLevel: c.SALVO_LOG_LEVEL,
    metrics: { token: c.SALVO_METRICS_TOKEN, queueRefreshMs: c.SALVO_METRICS_QUEUE_REFRESH_MS },
    tracing: {
      endpoint:
        c.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ??
        (c.OTEL_EXPORTER_OTLP_ENDPOINT ? `${c.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, "")}/v1/traces` : undefined),
      serviceName: c.OTEL_SERVICE_NAME,
    },
    debugErrors: c.SALVO_DEBUG_ERRORS === "1" || c.SALVO_DEBUG_ERRORS === "true",
  };
}
