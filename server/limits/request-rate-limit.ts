import type { Deps } from "../deps.js";
import { rateLimitRejections } from "../observability/metrics.js";
import { rateLimitExceeded } from "./batch-rate-limit.js";

/**
 * The general request limit, as Trigger.dev has for its whole API: every authenticated request
 * takes one token from its environment's bucket (`SALVO_RATE_LIMIT_*`), in the same limiter as
 * the batch bucket (Redis, or in-process) under a key of its own. Over the limit: 429 with
 * `X-RateLimit-*` and `Retry-After`, as for batches.
 *
 * Workers' calls (`worker.*`) are not charged: they come at a pace the queue sets (one dequeue
 * waiting at a time, heartbeats per lease, outcome reports batched), and refusing them would
 * not shed load, only let leases lapse and runs be retried.
 */
export async function chargeRequest(deps: Deps, environmentId: string): Promise<void> {
  const decision = await deps.rateLimiter.limit(`requests:${environmentId}`, 1, deps.config.limits.requestRateLimit);
  if (!decision.success) {
    rateLimitRejections.inc({ limit: "request" });
    throw rateLimitExceeded("Rate limit exceeded", decision);
  }
}
