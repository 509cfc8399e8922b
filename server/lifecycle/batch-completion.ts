import { sql, type Transaction } from "kysely";
import { PREPARED } from "../../db/prepared.js";
import type { Database } from "../../db/schema.js";
import { FINAL_RUN_STATUSES, type RunStatus } from "../../shared/schemas.js";
import { appendEvents } from "../events/outbox.js";
import { countRunTransitions } from "../observability/metrics.js";
import { resumeParent } from "./parent.js";
import { batchStatusEvent, recordRunStatus, type TransitionedRun } from "./record.js";

/** What a batch that just ended (COMPLETED or ABORTED) must tell its waiting parent. */
export interface EndedBatch {
  environment_id: string;
  parent_run_id: string | null;
  resume_parent_on_completion: boolean;
}

/**
 * Every batch that ends, completed or aborted, ends here: a parent waiting on it
 * (`batchTriggerAndWait`) is queued again, in the transaction that ended the batch and after the
 * batch row was updated (docs/ARCHITECTURE.md, "Lock order").
 */
export async function batchEnded(trx: Transaction<Database>, batch: EndedBatch, now: Date): Promise<void> {
  if (batch.resume_parent_on_completion && batch.parent_run_id !== null) {
    await resumeParent(trx, batch.environment_id, batch.parent_run_id, now);
  }
}

/**
 * A processed batch is COMPLETED once every run its items resolved to is final, which the
 * `finished_item_count` counter tells without a scan. Call under the batch row's lock.
 */
export async function completeBatchIfDone(trx: Transaction<Database>, batchId: string, now: Date): Promise<void> {
  const completed = await trx
    .updateTable("batches")
    .set({ status: "COMPLETED", completed_at: now, updated_at: now })
    .where("id", "=", batchId)
    .where("processing_completed_at", "is not", null)
    .where("status", "in", ["PENDING", "PARTIAL_FAILED"])
    .where((eb) => eb("finished_item_count", ">=", eb.ref("successful_run_count")))
    .returning(["id", "environment_id", "parent_run_id", "resume_parent_on_completion"])
    .executeTakeFirst();
  if (!completed) return;
  await appendEvents(trx, [batchStatusEvent(completed, "COMPLETED")]);
  await batchEnded(trx, completed, now);
}

/**
 * Counts the runs among `runs` that are now final towards every batch with an item pointing at
 * them: the batch that created a run (`runs.batch_id`) and any batch whose item resolved to it
 * through an idempotency key (`batch_items.cached`), completing the batches that are now done.
 *
 * Call once per transaction, after every statement that finalized runs (each of which locked
 * them): this statement's snapshot must include every item committed before those locks were
 * granted (see "Counters and completion" in docs/ARCHITECTURE.md). The batch rows are locked in
 * id order. Whether a batch is now done is decided on the locked row and applied by the same
 * update (what `completeBatchIfDone` decides in a statement of its own): a worker's report that
 * finishes runs of a batch costs one statement here, not two.
 */
export async function countFinishedRuns(
  trx: Transaction<Database>,
  runs: readonly TransitionedRun[],
  now: Date,
): Promise<void> {
  // Every transaction that finishes or retries runs passes here once with all of them.
  countRunTransitions(trx, runs);
  const runIds = runs.filter((r) => FINAL_RUN_STATUSES.includes(r.status as RunStatus)).map((r) => r.id);
  if (runIds.length === 0) return;
  // The ids travel as one JSON parameter: a canceled batch may finish 100,000 runs at once.
  // Prepared (every worker report passes here): a custom plan could not do better than the
  // generic one, since the planner cannot see into the JSON either way.
  const { rows: completed } = await sql<EndedBatch & { id: string; done: boolean }>`${sql.raw(PREPARED)}
    with finished as (
      select id, batch_id from runs
      where id in (select json_array_elements_text(${JSON.stringify(runIds)}::json))
    ),
    counts as (
      select batch_id, count(*)::int as n from (
        select r.batch_id from finished as r where r.batch_id is not null
        union all
        select i.batch_id from batch_items i join finished as r on i.run_id = r.id where i.cached
      ) as items
      group by batch_id
    ),
    locked as materialized (
      select b.id,
             coalesce(b.processing_completed_at is not null and b.status in ('PENDING', 'PARTIAL_FAILED')
                      and b.finished_item_count + counts.n >= b.successful_run_count, false) as done
      from batches b join counts on b.id = counts.batch_id
      order by b.id
      for update of b
    )
    update batches b
    set finished_item_count = b.finished_item_count + counts.n, updated_at = ${now},
        status = case when locked.done then 'COMPLETED' else b.status end,
        completed_at = case when locked.done then ${now} else b.completed_at end
    from counts join locked on locked.id = counts.batch_id
    where b.id = counts.batch_id
    returning b.id, locked.done, b.environment_id, b.parent_run_id, b.resume_parent_on_completion`.execute(trx);
  const ended = completed.filter((b) => b.done);
  if (ended.length === 0) return;
  await appendEvents(
    trx,
    ended.map((b) => ({
      environment_id: b.environment_id,
      batch_id: b.id,
      run_id: null,
      type: "batch.status",
      data: JSON.stringify({ status: "COMPLETED" }),
    })),
  );
  for (const batch of ended) await batchEnded(trx, batch, now);
}

/**
 * Records runs that just changed state in one step, in the transaction that changed them: their
 * `run.status` events, then (for those now final) their batches' bookkeeping.
 */
export async function recordTransitions(trx: Transaction<Database>, runs: TransitionedRun[], now: Date): Promise<void> {
  await recordRunStatus(trx, runs);
  await countFinishedRuns(trx, runs, now);
}
