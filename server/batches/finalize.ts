import { sql, type Transaction } from "kysely";
import type { BatchStatus } from "../../shared/schemas.js";
import { FINAL_RUN_STATUSES } from "../../shared/schemas.js";
import type { BatchRow, Database } from "../../db/schema.js";
import { appendEvents } from "../events/outbox.js";

/**
 * Called once every index of a batch is present (the batch is sealed): records how many items
 * became runs and moves the batch to the status Trigger.dev shows after processing. Ingest is
 * synchronous here, so PROCESSING is passed through within this one transaction; both steps are
 * still recorded as events so watchers see the documented sequence.
 */
export async function finishProcessing(trx: Transaction<Database>, batch: BatchRow, now: Date): Promise<void> {
  const counts = await trx
    .selectFrom("batch_items")
    .select([
      sql<number>`count(*) filter (where run_id is not null)::int`.as("successful"),
      sql<number>`count(*) filter (where run_id is null)::int`.as("failed"),
    ])
    .where("batch_id", "=", batch.id)
    .executeTakeFirstOrThrow();
  const status: BatchStatus =
    counts.successful === 0 ? "ABORTED" : counts.failed > 0 ? "PARTIAL_FAILED" : "PENDING";
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
  if (status !== "ABORTED") await tryCompleteBatch(trx, batch.id, now);
}

/**
 * A processed batch is COMPLETED once every run its items resolved to is final. Runs finishing
 * call this too; it is a no-op until the last one.
 */
export async function tryCompleteBatch(trx: Transaction<Database>, batchId: string, now: Date): Promise<boolean> {
  const unfinished = await trx
    .selectFrom("batch_items as i")
    .innerJoin("runs as r", "r.id", "i.run_id")
    .select("r.id")
    .where("i.batch_id", "=", batchId)
    .where("r.status", "not in", FINAL_RUN_STATUSES)
    .limit(1)
    .executeTakeFirst();
  if (unfinished) return false;
  const updated = await trx
    .updateTable("batches")
    .set({ status: "COMPLETED", completed_at: now, updated_at: now })
    .where("id", "=", batchId)
    .where("processing_completed_at", "is not", null)
    .where("status", "in", ["PENDING", "PARTIAL_FAILED"])
    .returning(["environment_id"])
    .executeTakeFirst();
  if (!updated) return false;
  await appendEvents(trx, [
    { environment_id: updated.environment_id, batch_id: batchId, run_id: null, type: "batch.status", data: JSON.stringify({ status: "COMPLETED" }) },
  ]);
  return true;
}
