import { sql, type Transaction } from "kysely";
import type { IndexedItem } from "../../shared/schemas.js";
import type { BatchRow, Database } from "../../db/schema.js";
import { bulkRows } from "../../db/bulk-rows.js";
import { createRuns } from "../runs/create.js";
import { assertStoredPacketsExist } from "../runs/packets.js";
import { prepareRun, type RunContext } from "../runs/prepare.js";
import { admitUnderQueueCap, type QueueCapOptions } from "../limits/queue-cap.js";

const LEDGER_COLUMNS = [
  ["batch_id", "text"],
  ["batch_index", "integer"],
  ["task_identifier", "text"],
  ["run_id", "text"],
] as const;

export interface IngestResult {
  accepted: number;
  deduplicated: number;
  /** Run id per accepted item, in the order the items were given. */
  runIds: string[];
}

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
    // A range scan of the primary key, not one probe per index: a stream sends indexes in
    // order, so a new chunk's range is usually empty and this reads nothing.
    let low = Infinity;
    let high = -Infinity;
    for (const index of fresh.keys()) {
      if (index < low) low = index;
      if (index > high) high = index;
    }
    const { rows: present } = await sql<{ batch_index: number }>`
      select batch_index from batch_items
      where batch_id = ${batch.id} and batch_index between ${low} and ${high}`.execute(trx);
    for (const { batch_index } of present) {
      if (fresh.delete(batch_index)) deduplicated++;
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
  // One statement for the whole chunk, as runs are written.
  const rows = toRun.map((item, i) => ({ batch_id: batch.id, batch_index: item.index, task_identifier: item.task, run_id: outcomes[i]!.runId }));
  await sql`insert into batch_items (batch_id, batch_index, task_identifier, run_id) ${bulkRows(LEDGER_COLUMNS, rows)}`.execute(trx);
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
