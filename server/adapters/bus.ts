import { EventEmitter } from "node:events";
import { Redis } from "ioredis";
import { RedisBreaker, type RedisStatus } from "./redis-breaker.js";

/**
 * Wake-ups between processes: "something changed on this channel, go and read Postgres". A
 * message carries no state that matters, so a lost one only delays a reader until its next
 * fallback poll; losing Redis never loses a run.
 */
export interface Bus {
  publish(channel: string, message: string): Promise<void>;
  /** Returns an unsubscribe function. */
  subscribe(channel: string, listener: (message: string) => void): Promise<() => Promise<void>>;
  /** For readiness: whether the Redis behind it answers ("unused" without Redis). */
  redisStatus(): Promise<RedisStatus>;
  close(): Promise<void>;
}

/** One process: an EventEmitter. */
export class InProcessBus implements Bus {
  readonly #emitter = new EventEmitter().setMaxListeners(0);
  async publish(channel: string, message: string) {
    this.#emitter.emit(channel, message);
  }
  async subscribe(channel: string, listener: (message: string) => void) {
    this.#emitter.on(channel, listener);
    return async () => void this.#emitter.off(channel, listener);
  }
  async redisStatus(): Promise<RedisStatus> {
    return "unused";
  }
  async close() {
    this.#emitter.removeAllListeners();
  }
}

/**
 * Many processes: Redis pub/sub. One subscriber connection per process, fanned out locally, so a
 * thousand local listeners cost one Redis subscription per channel. Redis down or frozen: after
 * the first command that fails (within its timeout), the breaker fails publishes and subscribes
 * at once until Redis answers again; readers fall back to their polls meanwhile.
 */
export class RedisBus implements Bus {
  readonly #pub: Redis;
  readonly #sub: Redis;
  readonly #breaker: RedisBreaker;
  readonly #local = new InProcessBus();
  readonly #counts = new Map<string, number>();

  constructor(url: string, warn: (message: string) => void) {
    // The timeout bounds a frozen Redis; it is longer than the rate limiter's because a busy event
    // loop (a fan-out to many subscribers) can make a healthy Redis look a second late.
    const options = { lazyConnect: false, maxRetriesPerRequest: 2, enableOfflineQueue: true, commandTimeout: 3_000 };
    this.#pub = new Redis(url, options);
    this.#sub = new Redis(url, options);
    // Errors surface through failed publishes; a reconnecting client must not crash the process.
    this.#pub.on("error", () => {});
    this.#sub.on("error", () => {});
    this.#sub.on("message", (channel: string, message: string) => void this.#local.publish(channel, message));
    this.#breaker = new RedisBreaker(this.#pub, "event bus", "wake-ups wait for the fallback polls", warn);
  }

  async publish(channel: string, message: string) {
    await this.#breaker.run(() => this.#pub.publish(channel, message));
  }

  async subscribe(channel: string, listener: (message: string) => void) {
    const unsubscribeLocal = await this.#local.subscribe(channel, listener);
    const count = (this.#counts.get(channel) ?? 0) + 1;
    this.#counts.set(channel, count);
    if (count === 1) {
      try {
        await this.#breaker.run(() => this.#sub.subscribe(channel));
      } catch (err) {
        // Redis unreachable: undo, so a later attempt subscribes for real instead of counting on this one.
        await unsubscribeLocal();
        const left = (this.#counts.get(channel) ?? 1) - 1;
        if (left > 0) this.#counts.set(channel, left);
        else this.#counts.delete(channel);
        throw err;
      }
    }
    return async () => {
      await unsubscribeLocal();
      const left = (this.#counts.get(channel) ?? 1) - 1;
      if (left > 0) this.#counts.set(channel, left);
      else {
        this.#counts.delete(channel);
        await this.#sub.unsubscribe(channel).catch(() => {});
      }
    };
  }

  async redisStatus(): Promise<RedisStatus> {
    return (await this.#breaker.isUp()) ? "up" : "down";
  }

  async close() {
    await this.#local.close();
    this.#sub.disconnect();
    this.#pub.disconnect();
  }
}

/** `warn` logs the breaker's opening and closing (see redis-breaker.ts). */
export function createBus(redisUrl: string | undefined, warn: (message: string) => void): Bus {
  return redisUrl ? new RedisBus(redisUrl, warn) : new InProcessBus();
}
