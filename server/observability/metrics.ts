import type { Transaction } from "kysely";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { Database } from "../../db/schema.js";
import { afterCommit } from "../../db/transaction.js";
import { FINAL_RUN_STATUSES } from "../../shared/schemas.js";

/**
 * Every Prometheus metric of a Salvo process, in one registry (served at `GET /metrics` by
 * http/metrics-route.ts; README "Operating Salvo" lists them).
 *
 * Counters of what a transaction did move only once it committed: the counting functions below
 * take the transaction and count through `afterCommit` (db/transaction.ts), so a rolled-back or
 * retried transaction counts nothing. This module imports nothing of the server but the
 * transaction helper, so every layer may count here, `lifecycle/` included (the one file outside
 * its own folders it may import besides the events outbox, docs/ARCHITECTURE.md).
 *
 * One registry per process: several servers in one process (tests) add up in it.
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry });

const registers = [registry];

export const httpRequests = new Counter({
  name: "salvo_http_requests_total",
  help: "HTTP requests answered, by method, route template and status",
  labelNames: ["method", "route", "status"] as const,
  registers,
});

export const httpDuration = new Histogram({
  name: "salvo_http_request_duration_seconds",
  help: "Time to answer an HTTP request (to the end of the answer; a subscription counts its whole life)",
  labelNames: ["method", "route"] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers,
});

/** `api`: `one_shot` (v1/v2 batch trigger, `batch.trigger`) or `two_phase` (v3 create + items stream). */
export type BatchApi = "one_shot" | "two_phase";

export const batchesCreated = new Counter({
  name: "salvo_batches_created_total",
  help: "Batches created, by API (one_shot: the whole batch in one request; two_phase: create, then stream items)",
  labelNames: ["api"] as const,
  registers,
});

export const batchItemsIngested = new Counter({
  name: "salvo_batch_items_ingested_total",
  help: "Batch items written to a batch's ledger (a run, a cached run or an item error), by API",
  labelNames: ["api"] as const,
  registers,
});

export const runsCreated = new Counter({
  name: "salvo_runs_created_total",
  help: "Runs created (idempotency-key hits that return an existing run are not counted)",
  registers,
});

export const runsFinished = new Counter({
  name: "salvo_runs_finished_total",
  help: "Runs that reached a final status, by status",
  labelNames: ["status"] as const,
  registers,
});

export const runRetries = new Counter({
  name: "salvo_run_retries_total",
  help: "Failed executions that will be retried (the run went to REATTEMPTING)",
  registers,
});

/**
 * Rows retention deleted (server/lifecycle/retention.ts), by kind: `batches`, `runs`, `items`
 * (ledger), `events`, `packets`. Counted after each pass, whose transactions have all committed.
 */
export const retentionDeleted = new Counter({
  name: "salvo_retention_deleted_total",
  help: "Rows deleted by run retention (SALVO_RUN_RETENTION), by kind: batches, runs, items (ledger), events, packets",
  labelNames: ["kind"] as const,
  registers,
});

export const leaseExpiries = new Counter({
  name: "salvo_lease_expiries_total",
  help: "Executing runs taken back from a worker that is gone, by reason (lease_expired, worker_disconnected)",
  labelNames: ["reason"] as const,
  registers,
});

export const dequeueWait = new Histogram({
  name: "salvo_dequeue_wait_seconds",
  help: "Time a worker's dequeue call took to answer, by outcome (claimed: it answered runs; empty: it waited out its time)",
  labelNames: ["outcome"] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30],
  registers,
});

export const claimDuration = new Histogram({
  name: "salvo_claim_duration_seconds",
  help: "Time of one claim transaction (the worker's reported outcomes, then the claim)",
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers,
});

export const openSubscriptions = new Gauge({
  name: "salvo_subscriptions_open",
  help: "Live subscriptions held open by this process, by kind (trpc: SSE subscriptions; realtime: Electric shape long-polls)",
  labelNames: ["kind"] as const,
  registers,
});

export const eventDeliveryLag = new Histogram({
  name: "salvo_event_delivery_lag_seconds",
  help: "From the transaction that wrote an event to its delivery to this process's live subscribers",
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers,
});

export const rateLimitRejections = new Counter({
  name: "salvo_rate_limit_rejections_total",
  help: "Requests refused with 429, by limit (request, batch_items, subscriptions)",
  labelNames: ["limit"] as const,
  registers,
});

export const queueQueued = new Gauge({
  name: "salvo_queue_queued_runs",
  help: "QUEUED runs per queue (refreshed at most every SALVO_METRICS_QUEUE_REFRESH_MS)",
  labelNames: ["environment", "queue"] as const,
  registers,
});

export const queueExecuting = new Gauge({
  name: "salvo_queue_executing_runs",
  help: "EXECUTING runs per queue (refreshed at most every SALVO_METRICS_QUEUE_REFRESH_MS)",
  labelNames: ["environment", "queue"] as const,
  registers,
});

export const queueLimit = new Gauge({
  name: "salvo_queue_concurrency_limit",
  help: "A queue's concurrency limit (queues without one are not listed)",
  labelNames: ["environment", "queue"] as const,
  registers,
});

export const dbPoolConnections = new Gauge({
  name: "salvo_db_pool_connections",
  help: "Postgres pool connections, by state (total, idle, waiting: requests waiting for one); absent on embedded PGlite",
  labelNames: ["state"] as const,
  registers,
});

export const redisUp = new Gauge({
  name: "salvo_redis_up",
  help: "Whether Redis answers (1) or not (0), by client (bus, rate_limiter); absent without REDIS_URL",
  labelNames: ["client"] as const,
  registers,
});

/** The columns of a run transition that counting needs (lifecycle/record.ts `TransitionedRun`). */
interface ChangedRun {
  status: string;
}

const FINAL = new Set<string>(FINAL_RUN_STATUSES);

/**
 * Counts the runs a transaction moved once it commits: final ones by status, REATTEMPTING ones as
 * retries. Called by `countFinishedRuns` (lifecycle/batch-completion.ts), which every transaction
 * that finishes or retries runs calls once with all of them.
 */
export function countRunTransitions(trx: Transaction<Database>, runs: readonly ChangedRun[]): void {
  const finished = new Map<string, number>();
  let retries = 0;
  for (const run of runs) {
    if (run.status === "REATTEMPTING") retries++;
    else if (FINAL.has(run.status)) finished.set(run.status, (finished.get(run.status) ?? 0) + 1);
  }
  if (finished.size === 0 && retries === 0) return;
  afterCommit(trx, () => {
    for (const [status, n] of finished) runsFinished.inc({ status }, n);
    if (retries > 0) runRetries.inc(retries);
  });
}

/** Counts `n` new runs once the transaction that inserted them commits. */
export function countRunsCreated(trx: Transaction<Database>, n: number): void {
  if (n > 0) afterCommit(trx, () => runsCreated.inc(n));
}

/** Counts runs taken back from a gone worker once the reclaiming transaction commits. */
export function countLeaseExpiries(trx: Transaction<Database>, byReason: Record<string, number>): void {
  afterCommit(trx, () => {
    for (const [reason, n] of Object.entries(byReason)) if (n > 0) leaseExpiries.inc({ reason }, n);
  });
}

/** Observes how long after their transaction events reached this process's live subscribers. */
export function observeDeliveryLag(events: readonly { createdAt: Date }[]): void {
  const now = Date.now();
  for (const event of events) eventDeliveryLag.observe(Math.max(0, now - event.createdAt.getTime()) / 1000);
}
