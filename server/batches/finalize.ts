import { type RawBuilder, sql, type Transaction } from "kysely";
import type { BatchRow, Database } from "../../db/schema.js";
import type { BatchStatus } from "../../shared/schemas.js";
import { appendEvents } from "../events/outbox.js";
import { resumeParent } from "../runs/resume.js";

/**
 * Called once every index of a batch is present (the batch is sealed): records how many items
 * became runs and moves the batch to the status Trigger.dev shows after processing. Ingest is
 * synchronous here, so PROCESSING is passed through within this one transaction; both steps are
 * still recorded as events so watchers see the documented sequence.
 */
export async function finishProcessing(trx: Transaction<Database>, batch: BatchRow, now: Date): Promise<BatchOutcome> {
  const counts = await trx
    .selectFrom("batch_items")
    .select([
      sql<number>`count(*) filter (where run_id is not null)::int`.as("successful"),
      sql<number>`count(*) filter (where run_id is null)::int`.as("failed"),
    ])
    .where("batch_id", "=", batch.id)
    .executeTakeFirstOrThrow();
  const status: BatchStatus = counts.successful === 0 ? "ABORTED" : counts.failed > 0 ? "PARTIAL_FAILED" : "PENDING";
  await trx
    .updateTable("batches")
    .set({
      status,
      sealed: true,
      sealed_at: batch.sealed_at ?? now,
      successful_run_count: counts.successful,
      failed_run_count: counts.failed,
      processing_completed_at: now,
      completed_at: status === "ABORTED" ? now : null,
      updated_at: now,
    })
    .where("id", "=", batch.id)
    .execute();
  const event = (status: BatchStatus) => ({
    environment_id: batch.environment_id,
    batch_id: batch.id,
    run_id: null,
    type: "batch.status",
    data: JSON.stringify({ status, successfulRunCount: counts.successful, failedRunCount: counts.failed }),
  });
  await appendEvents(trx, [event("PROCESSING"), event(status)]);
  if (status === "ABORTED") {
    // No run will ever finish for it: a waiting parent must not wait forever.
    const resumed =
      batch.resume_parent_on_completion && batch.parent_run_id !== null
        ? await resumeParent(trx, batch.environment_id, batch.parent_run_id, now)
        : false;
    return { completed: false, resumedParent: resumed };
  }
  return tryCompleteBatch(trx, batch.id, now);
}

/** What finishing a batch set off: callers wake workers after commit when a parent was queued. */
export interface BatchOutcome {
  completed: boolean;
  resumedParent: boolean;
}

/**
 * A processed batch is COMPLETED once every run its items resolved to is final, which the
 * `finished_item_count` counter tells without a scan. A waiting parent is then queued again.
 */
export async function tryCompleteBatch(trx: Transaction<Database>, batchId: string, now: Date): Promise<BatchOutcome> {
  const completed = await trx
    .updateTable("batches")
    .set({ status: "COMPLETED", completed_at: now, updated_at: now })
    .where("id", "=", batchId)
    .where("processing_completed_at", "is not", null)
    .where("status", "in", ["PENDING", "PARTIAL_FAILED"])
    .where((eb) => eb("finished_item_count", ">=", eb.ref("successful_run_count")))
    .returning(["environment_id", "parent_run_id", "resume_parent_on_completion"])
    .executeTakeFirst();
  if (!completed) return { completed: false, resumedParent: false };
  await appendEvents(trx, [
    {
      environment_id: completed.environment_id,
      batch_id: batchId,
      run_id: null,
      type: "batch.status",
      data: JSON.stringify({ status: "COMPLETED" }),
    },
  ]);
  const resumedParent =
    completed.resume_parent_on_completion && completed.parent_run_id !== null
      ? await resumeParent(trx, completed.environment_id, completed.parent_run_id, now)
      : false;
  return { completed: true, resumedParent };
}

/**
 * Counts runs that just reached a final state towards every batch with an item pointing at them:
 * the batch that created a run (`runs.batch_id`) and any batch whose item resolved to it through
 * an idempotency key (`batch_items.cached`), completing the batches that are now done. Call in
 * the transaction that finalized the runs, in a statement after the one that locked them: this
 * statement's snapshot must include every item committed before those locks were granted (see
 * "Counters and completion" in docs/ARCHITECTURE.md). The batch rows are locked in id order.
 */
export async function countFinishedRuns(
  trx: Transaction<Database>,
  runIds: string[],
  now: Date,
): Promise<{ resumedParents: number }> {
  if (runIds.length === 0) return { resumedParents: 0 };
  // The ids travel as one JSON parameter: a canceled batch may finish 100,000 runs at once.
  const { rows: touched } = await sql<{ id: string }>`
    with finished as (
      select id, batch_id from runs
      where id in (select json_array_elements_text(${JSON.stringify(runIds)}::json))
    ),
    counts as (${finishedItemsPerBatch(sql`finished`)}),
    locked as materialized (
      select b.id from batches b join counts on b.id = counts.batch_id order by b.id for update of b
    )
    update batches b
    set finished_item_count = b.finished_item_count + counts.n, updated_at = ${now}
    from counts join locked on locked.id = counts.batch_id
    where b.id = counts.batch_id
    returning b.id`.execute(trx);
  let resumedParents = 0;
  for (const { id } of touched) {
    if ((await tryCompleteBatch(trx, id, now)).resumedParent) resumedParents++;
  }
  return { resumedParents };
}

/**
 * `(batch_id, n)`: how many items of each batch the given finished runs (a relation of `id,
 * batch_id`) account for: one for the batch that created each run, one per cached reference.
 */
export function finishedItemsPerBatch(finished: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`
    select batch_id, count(*)::int as n from (
      select r.batch_id from ${finished} as r where r.batch_id is not null
      union all
      select i.batch_id from batch_items i join ${finished} as r on i.run_id = r.id where i.cached
    ) as items
    group by batch_id`;
}
