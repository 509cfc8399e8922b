import { sql, type Transaction } from "kysely";
import type { Database } from "../../db/schema.js";
import { runStatusEventsOf, type TransitionedRun } from "./record.js";

/** How failed executions are retried: the `SALVO_*` execution settings. */
export interface RetryPolicy {
  defaultMaxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
}

/** An execution that ended without a result, on a run the caller has locked. */
export interface FailedExecution {
  id: string;
  attempt: number;
  max_attempts: number | null;
  /** The error to store, as JSON text. */
  error: string;
  /** False when it must not be retried whatever attempts remain (the handler asked, or it cannot run). */
  retry: boolean;
}

/** Exponential backoff before attempt `attempt + 1`, with ±20 % jitter so retries spread out. */
export function retryDelayMs(attempt: number, baseMs: number, maxMs: number): number {
  const exponential = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exponential * (0.8 + Math.random() * 0.4));
}

/**
 * The one retry-or-fail, for a handler that threw (a worker's report) and for a worker that is
 * gone (lease reclaim): REATTEMPTING with backoff while attempts remain and retrying is allowed,
 * else FAILED. One statement however many runs (each run's backoff is computed here), writing
 * their `run.status` events. Their batches are the caller's to count (`countFinishedRuns`).
 */
export async function retryOrFail(
  trx: Transaction<Database>,
  executions: FailedExecution[],
  policy: RetryPolicy,
  now: Date,
): Promise<TransitionedRun[]> {
  if (executions.length === 0) return [];
  const outcomes = executions.map((run) => {
    const retry = run.retry && run.attempt < (run.max_attempts ?? policy.defaultMaxAttempts);
    return {
      id: run.id,
      status: retry ? "REATTEMPTING" : "FAILED",
      error: run.error,
      retry_at: retry
        ? new Date(now.getTime() + retryDelayMs(run.attempt, policy.retryBaseMs, policy.retryMaxMs)).toISOString()
        : null,
    };
  });
  const { rows } = await sql<TransitionedRun>`
    with changed as (
      update runs
      set status = v.status, error = v.error::jsonb, retry_at = v.retry_at,
          finished_at = case when v.status = 'FAILED' then ${now}::timestamptz end,
          lease_owner = null, lease_expires_at = null, claim_id = null, updated_at = ${now}
      from json_to_recordset(${JSON.stringify(outcomes)}::json) as v(id text, status text, error text, retry_at timestamptz)
      where runs.id = v.id
      returning runs.id, runs.environment_id, runs.batch_id, runs.task_identifier, runs.status, runs.attempt
    ),
    changed_events as (${runStatusEventsOf("changed")})
    select * from changed`.execute(trx);
  return rows;
}
