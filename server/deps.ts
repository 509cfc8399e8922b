import type { Tracer } from "@opentelemetry/api";
import type { Kysely } from "kysely";
import type { Database } from "../db/schema.js";
import type { Bus } from "./adapters/bus.js";
import type { BatchRateLimiter } from "./adapters/rate-limiter.js";
import type { KeyCache } from "./auth/key-cache.js";
import type { KeyVault } from "./auth/vault.js";
import type { Config } from "./config.js";
import type { Log } from "./observability/log.js";

/** What domain code needs from the outside world, passed in rather than imported. */
export interface Deps {
  db: Kysely<Database>;
  config: Config;
  /**
   * The process's one logger (server/observability/log.ts). Inside a request its lines carry the
   * request's id; background tasks log through it too.
   */
  log: Log;
  /** Set when OpenTelemetry tracing is configured (server/observability/tracing.ts). */
  tracer?: Tracer;
  /** Cross-process wake-ups: Redis pub/sub, or in-process without REDIS_URL. */
  bus: Bus;
  /** Secret keys encrypted at rest, to verify the public tokens they signed. */
  vault: KeyVault;
  /** Secret keys this process accepted lately, forgotten on revocation (server/auth/key-cache.ts). */
  keyCache: KeyCache;
  /** Batch items per environment: Redis token buckets, or in-process without REDIS_URL. */
  rateLimiter: BatchRateLimiter;
  /**
   * Aborted when the server starts shutting down: waits that could outlast the grace period end
   * at once (a worker's dequeue answers empty, a subscription ends with a resume hint).
   */
  closing: AbortSignal;
  /**
   * Workers' presence streams held open to this process (`WorkerPresence`, server/queue/presence.ts:
   * the stream's close is how a dead worker is noticed). Named by its shape, so this list of
   * dependencies imports no domain folder.
   */
  presence: {
    hold(
      db: Kysely<Database>,
      environmentId: string,
      workerId: string,
      signal?: AbortSignal,
    ): AsyncGenerator<never, void>;
    close(): void;
  };
}
