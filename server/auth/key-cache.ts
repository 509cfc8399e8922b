import type { Bus } from "../adapters/bus.js";
import type { AuthenticatedEnvironment } from "./authenticate.js";

/** Carries the id of a revoked key (`api_keys.id`) to every server process. */
export const KEY_REVOKED_CHANNEL = "salvo:auth:key-revoked";

/** What a secret key resolved to: enough to answer a later request without the database. */
export interface CachedKey {
  keyId: string;
  environment: AuthenticatedEnvironment;
}

interface Entry extends CachedKey {
  expiresAt: number;
}

/** More live keys than this in one process is unusual; the oldest entries make room. */
const MAX_ENTRIES = 10_000;

/**
 * Secret keys this process has checked against the database lately, by digest, so a worker's
 * dequeue or a one-shot batch does not pay a query to learn who it is (a worker's cycle was an
 * HTTP request, this query and a transaction). Only keys the database accepted are kept: an
 * unknown key still reaches the database every time.
 *
 * A revoked key is refused by every process within `ttlMs` of the revocation's commit, whatever
 * happens to the bus: no entry is trusted longer than that. Usually much sooner: `revokeApiKey`
 * forgets the key in its own process at once and publishes its id on KEY_REVOKED_CHANNEL, and
 * every process listening (`listen`) forgets it when the message arrives.
 *
 * A lookup that read the database before a revocation arrived must not put the key back after
 * it: `generation` moves on every revocation, and an entry is stored only if it did not move
 * while its lookup ran.
 */
export class KeyCache {
  readonly #entries = new Map<string, Entry>();
  #generation = 0;

  constructor(
    readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get(digest: string): CachedKey | undefined {
    const entry = this.#entries.get(digest);
    if (!entry) return undefined;
    if (entry.expiresAt > this.now()) return entry;
    this.#entries.delete(digest);
    return undefined;
  }

  /** Call before reading the database; pass the answer to `set`. */
  generation(): number {
    return this.#generation;
  }

  set(digest: string, key: CachedKey, lookupGeneration: number): void {
    if (this.ttlMs === 0 || lookupGeneration !== this.#generation) return;
    if (this.#entries.size >= MAX_ENTRIES) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(digest, { ...key, expiresAt: this.now() + this.ttlMs });
  }

  /** A key was revoked: forget it (and make lookups in flight not store what they read). */
  forgetKey(keyId: string): void {
    this.#generation++;
    for (const [digest, entry] of this.#entries) if (entry.keyId === keyId) this.#entries.delete(digest);
  }

  /**
   * Forgets keys revoked by any process, as their ids arrive on the bus. While the subscription
   * cannot be made (Redis down at start) it is tried again every `retryMs`; meanwhile, and for
   * any message lost, `ttlMs` is the bound. Returns a function that stops listening.
   */
  listen(bus: Bus, retryMs = 1_000): () => Promise<void> {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    let unsubscribe: (() => Promise<void>) | undefined;
    const attempt = () => {
      bus
        .subscribe(KEY_REVOKED_CHANNEL, (keyId) => this.forgetKey(keyId))
        .then(
          async (off) => {
            if (stopped) await off();
            else unsubscribe = off;
          },
          () => {
            if (!stopped) timer = setTimeout(attempt, retryMs).unref();
          },
        );
    };
    attempt();
    return async () => {
      stopped = true;
      clearTimeout(timer);
      await unsubscribe?.();
    };
  }
}

/** Tells every process that `keyId` is revoked (after the revocation committed). Never throws. */
export async function announceRevocation(bus: Bus, keyId: string): Promise<void> {
  await bus.publish(KEY_REVOKED_CHANNEL, keyId).catch(() => {});
}
