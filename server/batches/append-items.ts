import type { AppendItemsResult, IndexedItem } from "../../shared/schemas.js";
import type { AuthenticatedEnvironment } from "../auth/authenticate.js";
import type { Deps } from "../deps.js";
import { badItem, notFound, unprocessable } from "../errors.js";
import { notifyEvents } from "../events/notify.js";
import { finishProcessing } from "./finalize.js";
import { ingestItems } from "./ingest.js";

/**
 * Phase 2, one chunk at a time: adds items to a PENDING batch and seals it when the last missing
 * index arrives. Idempotent by index; once sealed, further calls change nothing.
 */
export async function appendItems(
  { db, bus, config }: Deps,
  environment: AuthenticatedEnvironment,
  input: { batchId: string; items: IndexedItem[] },
): Promise<AppendItemsResult> {
  const result = await db.transaction().execute(async (trx): Promise<AppendItemsResult> => {
    // The row lock serializes concurrent streams of one batch: no double seal, no lost count.
    const batch = await trx
      .selectFrom("batches")
      .selectAll()
      .where("id", "=", input.batchId)
      .where("environment_id", "=", environment.id)
      .forUpdate()
      .executeTakeFirst();
    if (!batch) throw notFound(`Batch ${input.batchId} not found`);
    if (batch.sealed) return { id: batch.id, itemsAccepted: 0, itemsDeduplicated: 0, sealed: true };
    if (batch.status !== "PENDING") {
      throw unprocessable(`Batch ${batch.id} is not in PENDING status (current: ${batch.status})`);
    }
    const outOfRange = input.items.findIndex((item) => item.index >= batch.run_count);
    if (outOfRange !== -1) {
      const index = input.items[outOfRange]!.index;
      throw badItem(outOfRange, `index ${index} is outside 0..${batch.run_count - 1} (the batch's runCount is ${batch.run_count})`);
    }

    const now = new Date();
    const { accepted, deduplicated } = await ingestItems(trx, batch, input.items, now, {
      maxQueuedRuns: config.limits.maxQueuedRuns,
    });
    const enqueuedCount = batch.enqueued_count + accepted;
    if (enqueuedCount === batch.run_count) {
      await finishProcessing(trx, { ...batch, enqueued_count: enqueuedCount }, now);
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
  return result;
}
