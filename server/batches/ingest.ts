import type { Transaction } from "kysely";
import type { IndexedItem } from "../../shared/schemas.js";
import type { BatchRow, Database } from "../../db/schema.js";
import { createRuns } from "../runs/create.js";
import { assertStoredPacketsExist } from "../runs/packets.js";
import { prepareRun, type RunContext } from "../runs/prepare.js";
import { admitUnderQueueCap, type QueueCapOptions } from "../limits/queue-cap.js";

export interface IngestResult {
  accepted: number;
  deduplicated: number;
  /** Run id per accepted item, in the order the items were given. */
  runIds: string[];
}

const ITEM_SLICE = 5000;

/**
 * Turns items of a batch into runs, one per index: an index already present (from an earlier
 * chunk or a retried stream) is counted as deduplicated and its content ignored, so the first
 * content for an index wins. The caller holds the batch row lock, which is what makes the
 * presence check and the inserts one atomic step.
 */
export async function ingestItems(
  trx: Transaction<Database>,
  batch: BatchRow,
  items: IndexedItem[],
  now: Date,
  limits: QueueCapOptions = {},
): Promise<IngestResult> {
  await assertStoredPacketsExist(trx, batch.environment_id, items);
  const fresh = new Map<number, IndexedItem>();
  let deduplicated = 0;
  for (const item of items) {
    if (fresh.has(item.index)) deduplicated++;
    else fresh.set(item.index, item);
  }
  if (fresh.size > 0 && batch.enqueued_count > 0) {
    const present = await trx
      .selectFrom("batch_items")
      .select("batch_index")
      .where("batch_id", "=", batch.id)
      .where("batch_index", "in", [...fresh.keys()])
      .execute();
    for (const { batch_index } of present) {
      fresh.delete(batch_index);
      deduplicated++;
    }
  }
  const accepted = [...fresh.values()];
  if (accepted.length === 0) return { accepted: 0, deduplicated, runIds: [] };
  // Items over the environment's queued-runs cap become item errors (written there) or a 422.
  const toRun = await admitUnderQueueCap(trx, batch.id, batch.environment_id, accepted, limits);

  const ctx: RunContext = {
    environmentId: batch.environment_id,
    now,
    batchId: batch.id,
    parentRunId: batch.parent_run_id ?? undefined,
    resumeParentOnCompletion: batch.resume_parent_on_completion,
    triggerFunction: batch.resume_parent_on_completion ? "batchTriggerAndWait" : "batchTrigger",
  };
  const outcomes = await createRuns(trx, toRun.map((item) => prepareRun(item, ctx, item.index)));
  const rows = toRun.map((item, i) => ({
    batch_id: batch.id,
    batch_index: item.index,
    task_identifier: item.task,
    run_id: outcomes[i]!.runId,
    error: null,
    error_code: null,
  }));
  for (let start = 0; start < rows.length; start += ITEM_SLICE) {
    await trx.insertInto("batch_items").values(rows.slice(start, start + ITEM_SLICE)).execute();
  }
  const alreadyFinished = outcomes.filter((o) => o.isFinal).length;
  await trx
    .updateTable("batches")
    .set((eb) => ({
      enqueued_count: eb("enqueued_count", "+", accepted.length),
      finished_item_count: eb("finished_item_count", "+", alreadyFinished),
      updated_at: now,
    }))
    .where("id", "=", batch.id)
    .execute();
  return { accepted: accepted.length, deduplicated, runIds: outcomes.map((o) => o.runId) };
}
