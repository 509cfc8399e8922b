import type { Kysely } from "kysely";
import type { BatchRow, Database } from "../../db/schema.js";
import { transaction } from "../../db/transaction.js";
import type { AppendItemsResult, IndexedItem } from "../../shared/schemas.js";
import type { AuthenticatedEnvironment } from "../auth/authenticate.js";
import type { Deps } from "../deps.js";
import { badItem, notFound, unprocessable } from "../errors.js";
import { notifyEvents } from "../events/notify.js";
import { sealBatch } from "../lifecycle/seal.js";
import { lockBatchStream } from "../lifecycle/stream-lock.js";
import { batchItemsIngested } from "../observability/metrics.js";
import { ingestItems, planIngest } from "./ingest.js";

/**
 * Phase 2, one chunk at a time: adds items to a PENDING batch and seals it when the last missing
 * index arrives. Idempotent by index; once sealed, further calls change nothing.
 */
export async function appendItems(
  { db, bus, config }: Deps,
  environment: AuthenticatedEnvironment,
  input: { batchId: string; items: IndexedItem[] },
): Promise<AppendItemsResult> {
  // Read without a lock, to turn the items into rows before the transaction: that CPU work then
  // overlaps the commit of the stream's previous chunk. The fields it uses never change; what can
  // change (sealed, status, counts) is read again under the lock.
  const snapshot = await readBatch(db, environment.id, input.batchId);
  if (snapshot.sealed) return { id: snapshot.id, itemsAccepted: 0, itemsDeduplicated: 0, sealed: true };
  assertAppendable(snapshot, input.items);
  const plan = await planIngest(snapshot, input.items, new Date());

  const result = await transaction(db, async (trx): Promise<AppendItemsResult> => {
    // The batch's stream lock serializes concurrent streams of one batch (no double seal, no lost
    // count); the batch row itself is only locked by the chunk's last statements, after its runs,
    // as the lock order wants (docs/ARCHITECTURE.md). Read after the lock, the row is current:
    // only streams change its item counts, and the seal timeout skips a batch being streamed.
    await lockBatchStream(trx, input.batchId);
    const batch = await readBatch(trx, environment.id, input.batchId);
    if (batch.sealed) return { id: batch.id, itemsAccepted: 0, itemsDeduplicated: 0, sealed: true };
    assertAppendable(batch, input.items);

    const { accepted, deduplicated } = await ingestItems(trx, batch, plan, {
      maxQueuedRuns: config.limits.maxQueuedRuns,
    });
    const enqueuedCount = batch.enqueued_count + accepted;
    if (enqueuedCount === batch.run_count) {
      await sealBatch(trx, { ...batch, enqueued_count: enqueuedCount }, plan.now);
      return { id: batch.id, itemsAccepted: accepted, itemsDeduplicated: deduplicated, sealed: true };
    }
    return {
      id: batch.id,
      itemsAccepted: accepted,
      itemsDeduplicated: deduplicated,
      sealed: false,
      enqueuedCount,
      expectedCount: batch.run_count,
    };
  });
  notifyEvents(bus, environment.id);
  batchItemsIngested.inc({ api: "two_phase" }, result.itemsAccepted);
  return result;
}

async function readBatch(db: Kysely<Database>, environmentId: string, batchId: string): Promise<BatchRow> {
  const batch = await db
    .selectFrom("batches")
    .selectAll()
    .where("id", "=", batchId)
    .where("environment_id", "=", environmentId)
    .executeTakeFirst();
  if (!batch) throw notFound(`Batch ${batchId} not found`);
  return batch;
}

function assertAppendable(batch: BatchRow, items: IndexedItem[]) {
  if (batch.status !== "PENDING") {
    throw unprocessable(`Batch ${batch.id} is not in PENDING status (current: ${batch.status})`);
  }
  const outOfRange = items.findIndex((item) => item.index >= batch.run_count);
  if (outOfRange !== -1) {
    const index = items[outOfRange]!.index;
    throw badItem(
      outOfRange,
      `index ${index} is outside 0..${batch.run_count - 1} (the batch's runCount is ${batch.run_count})`,
    );
  }
}
