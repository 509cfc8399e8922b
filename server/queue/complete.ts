import { type RawBuilder, sql, type Transaction } from "kysely";
import { PREPARED } from "../../db/prepared.js";
import type { Database } from "../../db/schema.js";
import { finishedItemsPerBatch, tryCompleteBatch } from "../batches/finalize.js";
import { superJsonText } from "../runs/packets.js";
import type { TransitionedRun } from "../runs/transitions.js";

/**
 * Completing many runs as CTEs of one statement: the outputs travel as one JSON parameter, and
 * the same statement writes each run's event and counts the finished runs towards their
 * batches. As CTEs so a worker's dequeue can complete its finished runs in the statement that
 * claims their successors (see claim.ts).
 */
export interface Completion {
  /** `done`, `done_events`, `finished` and `counted`, for a `with` list. */
  ctes: RawBuilder<unknown>;
  /** `completed_runs` and `completable_batches`, for the statement's select list. */
  columns: RawBuilder<unknown>;
}

/** What the `Completion` columns read back. */
export interface CompletionResult {
  completed_runs: TransitionedRun[] | null;
  completable_batches: string[] | null;
}

/** Only the worker holding a run's lease may complete it (a late report is not accepted). */
export function completion(environmentId: string, workerId: string, completed: { runId: string; output?: unknown }[], now: Date): Completion {
  const rows = completed.map((c) => ({ id: c.runId, output: c.output === undefined ? null : superJsonText(c.output) }));
  return {
    ctes: sql`
      done as (
        update runs
        set status = 'COMPLETED', output = v.output, output_type = 'application/super+json',
            finished_at = ${now}, lease_owner = null, lease_expires_at = null, updated_at = ${now}
        from json_to_recordset(${JSON.stringify(rows)}::json) as v(id text, output text)
        where runs.id = v.id and runs.environment_id = ${environmentId}
          and runs.status = 'EXECUTING' and runs.lease_owner = ${workerId}
        returning runs.id, runs.environment_id, runs.batch_id, runs.task_identifier, runs.status, runs.attempt
      ),
      done_events as (
        insert into events (environment_id, batch_id, run_id, type, data)
        select environment_id, batch_id, id, 'run.status',
               jsonb_build_object('status', status, 'taskIdentifier', task_identifier, 'attempt', attempt)
        from done
      ),
      finished as (${finishedItemsPerBatch(sql`done`)}),
      counted as (
        update batches b
        set finished_item_count = b.finished_item_count + finished.n, updated_at = ${now}
        from finished
        where b.id = finished.batch_id
        returning b.id, b.finished_item_count >= b.successful_run_count as all_done
      )`,
    columns: sql`(select json_agg(done) from done) as completed_runs,
                 (select json_agg(id) from counted where all_done) as completable_batches`,
  };
}

/** Settles the batches the completion may have finished (rare: once per batch); answers the completed runs. */
export async function settleCompletion(trx: Transaction<Database>, result: CompletionResult | undefined, now: Date): Promise<TransitionedRun[]> {
  for (const batchId of result?.completable_batches ?? []) await tryCompleteBatch(trx, batchId, now);
  return result?.completed_runs ?? [];
}

/** Completes many runs in one statement (and settles their batches). */
export async function completeMany(trx: Transaction<Database>, ...args: Parameters<typeof completion>): Promise<TransitionedRun[]> {
  const { ctes, columns } = completion(...args);
  const { rows } = await sql<CompletionResult>`${sql.raw(PREPARED)}with ${ctes} select ${columns}`.execute(trx);
  return settleCompletion(trx, rows[0], args[3]);
}
