import type { Redis } from "ioredis";

/** What readiness says of the Redis behind a component: "unused" when it runs without Redis. */
export type RedisStatus = "up" | "down" | "unused";

/** Thrown instead of sending a command while the breaker is open. */
export class RedisSkippedError extends Error {
  constructor(name: string) {
    super(`${name}: Redis is unavailable (skipped for now)`);
  }
}

/** How long Redis is skipped after a failure before one probe tries it again. */
const OPEN_MS = 2_000;

/** Longest a background probe waits for Redis to answer. */
const PROBE_MS = 1_000;

/** Longest a readiness check waits for Redis to answer. */
const CHECK_MS = 500;

/**
 * A circuit breaker in front of one Redis client. Redis down or frozen makes every command wait
 * out its timeout before the caller's fallback runs (about a second per batch request): after
 * one command fails, the breaker opens and commands fail at once for `OPEN_MS`, then a PING sent
 * in the background (never a caller's command) probes Redis, and the breaker closes when it
 * answers. Opening and closing are logged once each, as warnings.
 */
export class RedisBreaker {
  #open = false;
  #retryAt = 0;
  #probing = false;

  constructor(
    private readonly redis: Redis,
    /** Who is speaking in the log, and what the fallback is: "batch rate limiter: …, accepting batches unlimited". */
    private readonly name: string,
    private readonly fallback: string,
    private readonly log: (message: string) => void,
  ) {}

  /** Runs a command, or fails at once while Redis is known to be down. */
  async run<T>(command: () => Promise<T>): Promise<T> {
    if (this.#open) {
      this.#probeWhenDue();
      throw new RedisSkippedError(this.name);
    }
    try {
      return await command();
    } catch (err) {
      this.#trip(err);
      throw err;
    }
  }

  /** Whether Redis answers now (a PING, at most `CHECK_MS`), for readiness. */
  async isUp(): Promise<boolean> {
    if (this.#open) {
      this.#probeWhenDue();
      return false;
    }
    try {
      await withTimeout(this.redis.ping(), CHECK_MS);
      return true;
    } catch (err) {
      this.#trip(err);
      return false;
    }
  }

  #trip(err: unknown) {
    this.#retryAt = Date.now() + OPEN_MS;
    if (this.#open) return;
    this.#open = true;
    this.log(`${this.name}: Redis unavailable (${(err as Error).message}); ${this.fallback} until it answers again`);
  }

  #probeWhenDue() {
    if (this.#probing || Date.now() < this.#retryAt) return;
    this.#probing = true;
    withTimeout(this.redis.ping(), PROBE_MS)
      .then(
        () => {
          this.#open = false;
          this.log(`${this.name}: Redis is back`);
        },
        () => (this.#retryAt = Date.now() + OPEN_MS),
      )
      .finally(() => (this.#probing = false));
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms))),
  ]).finally(() => clearTimeout(timer));
}
