import type { TRPCError } from "@trpc/server";
import type { BucketConfig, LimitDecision } from "../adapters/rate-limiter.js";
import type { Deps } from "../deps.js";
import { DomainError } from "../errors.js";
import { rateLimitRejections } from "../observability/metrics.js";

/**
 * The numbers of a rejected batch, as the 429 shows them: the REST layer turns them into
 * `X-RateLimit-*` and `Retry-After` headers, the tRPC error formatter into `error.data.rateLimit`.
 */
export class RateLimitExceededError extends Error {
  constructor(
    readonly limit: number,
    readonly remaining: number,
    /** Unix seconds, floored (Trigger.dev's batch 429 uses seconds, not ms). */
    readonly reset: number,
    /** Seconds until the next refill, at least 1. */
    readonly retryAfter: number,
  ) {
    super("Rate limit exceeded");
  }

  toJSON() {
    return { limit: this.limit, remaining: this.remaining, reset: this.reset, retryAfter: this.retryAfter };
  }

  /** The headers of the 429 answer. */
  headers(): Record<string, string> {
    return {
      "x-ratelimit-limit": String(this.limit),
      "x-ratelimit-remaining": String(this.remaining),
      "x-ratelimit-reset": String(this.reset),
      "retry-after": String(this.retryAfter),
    };
  }
}

/** The bucket of an environment: its stored override, else the configured default. */
export async function bucketFor(deps: Pick<Deps, "db" | "config">, environmentId: string): Promise<BucketConfig> {
  const row = await deps.db
    .selectFrom("environment_limits")
    .select(["batch_rate_limit_max", "batch_rate_limit_refill", "batch_rate_limit_interval_ms"])
    .where("environment_id", "=", environmentId)
    .executeTakeFirst();
  if (!row) return deps.config.limits.batchRateLimit;
  return {
    maxTokens: row.batch_rate_limit_max,
    refillRate: row.batch_rate_limit_refill,
    intervalMs: row.batch_rate_limit_interval_ms,
  };
}

/**
 * Takes `items` tokens from the environment's bucket, or throws a 429 (TOO_MANY_REQUESTS) that
 * took nothing. Call before writing anything for the batch.
 */
export async function chargeBatchItems(deps: Deps, environmentId: string, items: number): Promise<void> {
  const bucket = await bucketFor(deps, environmentId);
  const decision = await deps.rateLimiter.limit(environmentId, items, bucket);
  if (!decision.success) {
    rateLimitRejections.inc({ limit: "batch_items" });
    throw rateLimitExceeded("Batch rate limit exceeded", decision);
  }
}

/** The 429 (TOO_MANY_REQUESTS) of a refused limiter decision, with its numbers for the headers. */
export function rateLimitExceeded(what: string, decision: LimitDecision): DomainError {
  const cause = new RateLimitExceededError(
    decision.limit,
    Math.max(0, decision.remaining),
    Math.floor(decision.reset / 1000),
    Math.max(1, Math.ceil((decision.reset - Date.now()) / 1000)),
  );
  return new DomainError("TOO_MANY_REQUESTS", `${what}. Limit resets at ${new Date(decision.reset).toISOString()}`, {
    cause,
  });
}

/** The headers of a failed tRPC HTTP response that was refused by a rate limit (tRPC's `responseMeta`). */
export function rateLimitHeaders({ errors }: { errors: TRPCError[] }): { headers?: Record<string, string> } {
  const limited = errors.find((e) => e.cause instanceof RateLimitExceededError);
  return limited ? { headers: (limited.cause as RateLimitExceededError).headers() } : {};
}
