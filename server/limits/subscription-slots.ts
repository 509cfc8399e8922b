import { createHash } from "node:crypto";
import type { Caller } from "../auth/authenticate.js";
import type { Config } from "../config.js";
import { DomainError } from "../errors.js";
import { rateLimitRejections } from "../observability/metrics.js";
import { RateLimitExceededError } from "./batch-rate-limit.js";

/** What a refused subscription tells the client to wait: slots free as other subscriptions end. */
const RETRY_AFTER_SECONDS = 5;

/**
 * Live subscriptions held per environment and per key or token, in this server process: each one
 * holds a connection, a reader's attention and memory for as long as it lives, so one client
 * must not hold thousands (`SALVO_MAX_SUBSCRIPTIONS_PER_ENVIRONMENT`, `..._PER_TOKEN`). Past a cap
 * the subscription is refused with 429 and the usual rate-limit headers (remaining 0, retry in
 * a few seconds). A token is told apart by its hash, a secret key by its id.
 */
export class SubscriptionSlots {
  readonly #byEnvironment = new Map<string, number>();
  readonly #byToken = new Map<string, number>();

  constructor(
    private readonly limits: Pick<Config["connections"], "maxSubscriptionsPerEnvironment" | "maxSubscriptionsPerToken">,
  ) {}

  /** Takes a slot for this caller, or throws TOO_MANY_REQUESTS. Returns the release (idempotent). */
  take(caller: Caller, authorization: string): () => void {
    const environment = caller.environment.id;
    const token =
      caller.kind === "secret"
        ? `key:${caller.keyId}`
        : `jwt:${createHash("sha256").update(authorization).digest("hex")}`;
    const { maxSubscriptionsPerEnvironment: perEnvironment, maxSubscriptionsPerToken: perToken } = this.limits;
    if ((this.#byToken.get(token) ?? 0) >= perToken)
      throw refusal(`at most ${perToken} live subscriptions per key or token`, perToken);
    if ((this.#byEnvironment.get(environment) ?? 0) >= perEnvironment) {
      throw refusal(`at most ${perEnvironment} live subscriptions per environment`, perEnvironment);
    }
    increment(this.#byToken, token, 1);
    increment(this.#byEnvironment, environment, 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      increment(this.#byToken, token, -1);
      increment(this.#byEnvironment, environment, -1);
    };
  }
}

function increment(counts: Map<string, number>, key: string, by: number) {
  const next = (counts.get(key) ?? 0) + by;
  if (next > 0) counts.set(key, next);
  else counts.delete(key);
}

function refusal(what: string, limit: number): DomainError {
  rateLimitRejections.inc({ limit: "subscriptions" });
  const retryAfter = RETRY_AFTER_SECONDS;
  const cause = new RateLimitExceededError(limit, 0, Math.floor(Date.now() / 1000) + retryAfter, retryAfter);
  return new DomainError("TOO_MANY_REQUESTS", `Too many live subscriptions: ${what}; close one or retry later`, {
    cause,
  });
}
