import { Redis } from "ioredis";
import { RedisBreaker, type RedisStatus } from "./redis-breaker.js";

/** A token bucket: `maxTokens` when full, `refillRate` tokens added per whole `intervalMs`. */
export interface BucketConfig {
  maxTokens: number;
  refillRate: number;
  intervalMs: number;
}

export interface LimitDecision {
  success: boolean;
  /** The bucket's capacity (`X-RateLimit-Limit`). */
  limit: number;
  /** Tokens left after this call; on a rejection, what is there now (nothing was taken). */
  remaining: number;
  /** Epoch ms of the next refill. */
  reset: number;
}

/**
 * Batch rate limiting per environment, Trigger.dev's patched token bucket (reference §7.2):
 * a new bucket starts full, refills are discrete (whole intervals only), a call costing more than
 * the tokens available is rejected and takes nothing.
 *
 * One departure: a batch larger than the whole bucket (Salvo allows 100,000-run batches, Trigger.dev
 * caps them below its bucket) would otherwise never pass. It passes when the bucket is full and
 * leaves it in debt, so the environment then waits as long as that many items take to refill.
 */
export interface BatchRateLimiter {
  limit(key: string, cost: number, bucket: BucketConfig): Promise<LimitDecision>;
  /** For readiness: whether the Redis behind it answers ("unused" without Redis). */
  redisStatus(): Promise<RedisStatus>;
  close(): Promise<void>;
}

/** The bucket arithmetic, shared by the in-process limiter (the Lua script mirrors it). */
function step(state: { tokens: number; refilledAt: number } | undefined, cost: number, b: BucketConfig, now: number) {
  let tokens = state ? Math.min(b.maxTokens, state.tokens) : b.maxTokens;
  let refilledAt = state ? state.refilledAt : now;
  const intervals = Math.floor((now - refilledAt) / b.intervalMs);
  if (intervals > 0) {
    tokens = Math.min(b.maxTokens, tokens + intervals * b.refillRate);
    refilledAt += intervals * b.intervalMs;
  }
  const success = tokens >= cost || (cost > b.maxTokens && tokens >= b.maxTokens);
  if (success) tokens -= cost;
  return { success, tokens, refilledAt };
}

/** One process, no Redis: buckets in a Map (a server restart refills them all). */
export class InProcessRateLimiter implements BatchRateLimiter {
  readonly #buckets = new Map<string, { tokens: number; refilledAt: number }>();

  async limit(key: string, cost: number, bucket: BucketConfig): Promise<LimitDecision> {
    const now = Date.now();
    const next = step(this.#buckets.get(key), cost, bucket, now);
    this.#buckets.set(key, { tokens: next.tokens, refilledAt: next.refilledAt });
    // A full bucket needs no entry: it would be recreated full.
    if (next.tokens >= bucket.maxTokens) this.#buckets.delete(key);
    return {
      success: next.success,
      limit: bucket.maxTokens,
      remaining: next.tokens,
      reset: next.refilledAt + bucket.intervalMs,
    };
  }

  async redisStatus(): Promise<RedisStatus> {
    return "unused";
  }

  async close() {
    this.#buckets.clear();
  }
}

/**
 * The same bucket in one Redis hash, read and written by one script so concurrent servers never
 * both spend the last tokens. The clock is Redis's own (`TIME`): servers with skewed clocks still
 * agree on refills. The key expires once the bucket would be full again anyway.
 */
const TOKEN_BUCKET_LUA = `
local key = KEYS[1]
local max = tonumber(ARGV[1])
local refill = tonumber(ARGV[2])
local interval = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local state = redis.call('HMGET', key, 'tokens', 'refilledAt')
local tokens = max
local refilledAt = now
if state[1] then
  tokens = math.min(max, tonumber(state[1]))
  refilledAt = tonumber(state[2])
end
local intervals = math.floor((now - refilledAt) / interval)
if intervals > 0 then
  tokens = math.min(max, tokens + intervals * refill)
  refilledAt = refilledAt + intervals * interval
end
local success = 0
if tokens >= cost or (cost > max and tokens >= max) then
  success = 1
  tokens = tokens - cost
end
redis.call('HSET', key, 'tokens', tokens, 'refilledAt', refilledAt)
local emptyFor = math.ceil((max - tokens) / refill) + 1
redis.call('PEXPIRE', key, emptyFor * interval)
return {success, tokens, refilledAt + interval}
`;

type LimitCommand = (
  key: string,
  max: number,
  refill: number,
  interval: number,
  cost: number,
) => Promise<[number, number, number]>;

export class RedisRateLimiter implements BatchRateLimiter {
  readonly #redis: Redis & { salvoBatchLimit: LimitCommand };
  readonly #breaker: RedisBreaker;

  constructor(
    url: string,
    log: (message: string) => void,
    private readonly prefix = "salvo:batch-rate:",
  ) {
    // Fail fast when Redis is unreachable: a batch request must not hang on the limiter. The
    // first failure waits out the timeout; the breaker then skips Redis until it answers again.
    const redis = new Redis(url, { maxRetriesPerRequest: 1, commandTimeout: 1_000, enableOfflineQueue: true });
    redis.on("error", () => {});
    redis.defineCommand("salvoBatchLimit", { numberOfKeys: 1, lua: TOKEN_BUCKET_LUA });
    this.#redis = redis as Redis & { salvoBatchLimit: LimitCommand };
    this.#breaker = new RedisBreaker(redis, "batch rate limiter", "accepting batches unlimited", log);
  }

  async limit(key: string, cost: number, bucket: BucketConfig): Promise<LimitDecision> {
    try {
      const [success, remaining, reset] = await this.#breaker.run(() =>
        this.#redis.salvoBatchLimit(this.prefix + key, bucket.maxTokens, bucket.refillRate, bucket.intervalMs, cost),
      );
      return { success: success === 1, limit: bucket.maxTokens, remaining, reset };
    } catch {
      // Fail open: refusing every batch while Redis is down would stop the service for a
      // protection it can do without for a while; accepted items are in Postgres and not lost.
      return {
        success: true,
        limit: bucket.maxTokens,
        remaining: bucket.maxTokens,
        reset: Date.now() + bucket.intervalMs,
      };
    }
  }

  async redisStatus(): Promise<RedisStatus> {
    return (await this.#breaker.isUp()) ? "up" : "down";
  }

  async close() {
    this.#redis.disconnect();
  }
}

/** `warn` logs the breaker's opening and closing (see redis-breaker.ts). */
export function createRateLimiter(redisUrl: string | undefined, warn: (message: string) => void): BatchRateLimiter {
  return redisUrl ? new RedisRateLimiter(redisUrl, warn) : new InProcessRateLimiter();
}
