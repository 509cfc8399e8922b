import { sql, type Transaction } from "kysely";
import type { BatchRow, Database } from "../../db/schema.js";
import type { BatchStatus } from "../../shared/schemas.js";
import { appendEvents } from "../events/outbox.js";
import { abortBatches } from "./batch-abort.js";
import { completeBatchIfDone } from "./batch-completion.js";
import { batchStatusEvent } from "./record.js";

/**
 * Called once every index of a batch is present (the batch is sealed), under its stream lock:
 * records how many items became runs and moves the batch to the status Trigger.dev shows after
 * processing. Ingest is synchronous here, so PROCESSING is passed through within this one
 * transaction; both steps are still recorded as events so watchers see the documented sequence.
 * A batch none of whose items became a run is aborted; one whose runs are all final already
 * completes.
 */
export async function sealBatch(trx: Transaction<Database>, batch: BatchRow, now: Date): Promise<void> {
  const { rows } = await sql<{ successful: number; failed: number }>`
    with counts as (
      select count(*) filter (where run_id is not null)::int as successful,
             count(*) filter (where run_id is null)::int as failed
      from batch_items where batch_id = ${batch.id}
    )
    update batches
    set status = case when counts.failed > 0 then 'PARTIAL_FAILED' else 'PENDING' end,
        sealed = true, sealed_at = ${batch.sealed_at ?? now}, processing_completed_at = ${now}, updated_at = ${now},
        successful_run_count = counts.successful, failed_run_count = counts.failed
    from counts
    where batches.id = ${batch.id}
    returning counts.successful, counts.failed`.execute(trx);
  const { successful, failed } = rows[0]!;
  const event = (status: BatchStatus) =>
    batchStatusEvent(batch, status, { successfulRunCount: successful, failedRunCount: failed });
  if (successful === 0) {
    // No run will ever finish for it: it ends now, and a waiting parent must not wait forever.
    await appendEvents(trx, [event("PROCESSING")]);
    await abortBatches(
      trx,
      [{ ...batch, successful, failed, event: { successfulRunCount: successful, failedRunCount: failed } }],
      now,
    );
    return;
  }
  await appendEvents(trx, [event("PROCESSING"), event(failed > 0 ? "PARTIAL_FAILED" : "PENDING")]);
  await completeBatchIfDone(trx, batch.id, now);
}
