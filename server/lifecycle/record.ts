import { sql, type Transaction } from "kysely";
import type { Database } from "../../db/schema.js";
import { appendEvents, type NewEvent } from "../events/outbox.js";

/** The columns a run transition returns, so it can be recorded. */
export const TRANSITION_COLUMNS = ["id", "environment_id", "batch_id", "task_identifier", "status", "attempt"] as const;

/** A run as a transition left it: what its `run.status` event and its batches' bookkeeping need. */
export interface TransitionedRun {
  id: string;
  environment_id: string;
  batch_id: string | null;
  task_identifier: string;
  status: string;
  attempt: number;
}

/** `returning` the transition columns of `runs`, for statements that update it from another relation. */
export const returningTransition = sql`returning ${sql.join(TRANSITION_COLUMNS.map((c) => sql.ref(`runs.${c}`)))}`;

/**
 * The `run.status` event of a run that changed state. `extra` carries what only some transitions
 * say (the batch a parked parent waits for, that a parent was resumed).
 */
export function runStatusEvent(run: TransitionedRun, extra: Record<string, unknown> = {}): NewEvent {
  return {
    environment_id: run.environment_id,
    batch_id: run.batch_id,
    run_id: run.id,
    type: "run.status",
    data: JSON.stringify({ status: run.status, taskIdentifier: run.task_identifier, attempt: run.attempt, ...extra }),
  };
}

/**
 * The `batch.status` event of a batch that changed state. `extra` carries the counts the final
 * and processed states report (`successfulRunCount`, `failedRunCount`).
 */
export function batchStatusEvent(
  batch: { id: string; environment_id: string },
  status: string,
  extra: Record<string, unknown> = {},
): NewEvent {
  return {
    environment_id: batch.environment_id,
    batch_id: batch.id,
    run_id: null,
    type: "batch.status",
    data: JSON.stringify({ status, ...extra }),
  };
}

/**
 * The same `run.status` events written by SQL, for a statement that changes runs and records them in one round
 * trip: a CTE body inserting one event per row of `relation` (a CTE returning the transition columns).
 */
export const runStatusEventsOf = (relation: string) => sql`
  insert into events (environment_id, batch_id, run_id, type, data)
  select environment_id, batch_id, id, 'run.status',
         jsonb_build_object('status', status, 'taskIdentifier', task_identifier, 'attempt', attempt)
  from ${sql.table(relation)}`;

/** Appends the `run.status` events of runs that just changed state, in the transaction that changed them. */
export async function recordRunStatus(trx: Transaction<Database>, runs: TransitionedRun[]): Promise<void> {
  if (runs.length > 0)
    await appendEvents(
      trx,
      runs.map((r) => runStatusEvent(r)),
    );
}
