import type { z } from "zod";
import { isUniqueViolation } from "../../db/errors.js";
import { transaction } from "../../db/transaction.js";
import { friendlyId } from "../../shared/ids.js";
import type { TriggerBatchInputSchema, TriggerBatchResult } from "../../shared/schemas.js";
import type { AuthenticatedEnvironment } from "../auth/authenticate.js";
import type { Deps } from "../deps.js";
import { badRequest } from "../errors.js";
import { notifyEvents } from "../events/notify.js";
import { appendEvents } from "../events/outbox.js";
import { parkParent, parkUntilDone } from "../lifecycle/parent.js";
import { batchStatusEvent } from "../lifecycle/record.js";
import { sealBatch } from "../lifecycle/seal.js";
import { chargeBatchItems } from "../limits/batch-rate-limit.js";
import { batchesCreated, batchItemsIngested } from "../observability/metrics.js";
import { ingestItems, planIngest } from "./ingest.js";

type TriggerBatchInput = z.output<typeof TriggerBatchInputSchema>;

/**
 * The one-shot batch: the batch and every run are written in one transaction, so the answer
 * (which names every run) is only sent once all of it is committed.
 */
export async function triggerBatch(
  deps: Deps,
  environment: AuthenticatedEnvironment,
  input: TriggerBatchInput,
): Promise<TriggerBatchResult> {
  const { db, config, bus } = deps;
  const count = input.items.length;
  if (count === 0) throw badRequest("No items to trigger");
  const max = config.limits.maxOneShotItems;
  if (count > max) throw badRequest(`Too many items. Maximum allowed batch size is ${max}.`);

  const cachedBatch = async (): Promise<TriggerBatchResult | undefined> => {
    // A retried request (same SDK request key) gets the first answer; a repeated batch
    // idempotency key gets the batch marked as cached.
    const lookup = async (column: "request_idempotency_key" | "idempotency_key", key: string | undefined) =>
      key === undefined
        ? undefined
        : db
            .selectFrom("batches")
            .select("id")
            .where("environment_id", "=", environment.id)
            .where(column, "=", key)
            .executeTakeFirst();
    const replay = await lookup("request_idempotency_key", input.requestIdempotencyKey);
    const batch = replay ?? (await lookup("idempotency_key", input.idempotencyKey));
    if (!batch) return undefined;
    const items = await db
      .selectFrom("batch_items")
      .select("run_id")
      .where("batch_id", "=", batch.id)
      .where("run_id", "is not", null)
      .orderBy("batch_index")
      .execute();
    return { batchId: batch.id, runs: items.map((i) => i.run_id!), isCached: replay === undefined };
  };
  const cached = await cachedBatch();
  if (cached) {
    // A parent running again (after a resume, or a retry) asks for its batch again: while the
    // batch is unfinished it must wait for it once more.
    if (input.parentRunId && input.resumeParentOnCompletion)
      await parkUntilDone(db, environment.id, input.parentRunId, cached.batchId);
    return cached;
  }
  await chargeBatchItems(deps, environment.id, count);

  // The batch's id is chosen here so its runs can be built before the transaction opens.
  const now = new Date();
  const batchFields = {
    id: friendlyId("batch"),
    environment_id: environment.id,
    parent_run_id: input.parentRunId ?? null,
    resume_parent_on_completion: input.resumeParentOnCompletion ?? false,
  };
  const plan = await planIngest(
    batchFields,
    input.items.map((item, index) => ({ ...item, index })),
    now,
  );
  try {
    const result = await transaction(db, async (trx) => {
      const batch = await trx
        .insertInto("batches")
        .values({
          ...batchFields,
          status: "PENDING",
          run_count: count,
          idempotency_key: input.idempotencyKey ?? null,
          request_idempotency_key: input.requestIdempotencyKey ?? null,
          successful_run_count: null,
          failed_run_count: null,
          created_at: now,
          updated_at: now,
          sealed_at: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await appendEvents(trx, [batchStatusEvent(batch, "PENDING")]);
      if (input.parentRunId && input.resumeParentOnCompletion) {
        await parkParent(trx, environment.id, input.parentRunId, batch.id, now);
      }
      const { runIds } = await ingestItems(trx, batch, plan, {
        maxQueuedRuns: config.limits.maxQueuedRuns,
        overQueueCap: "reject",
      });
      await sealBatch(trx, { ...batch, enqueued_count: count }, now);
      return { batchId: batch.id, runs: runIds, isCached: false };
    });
    notifyEvents(bus, environment.id);
    batchesCreated.inc({ api: "one_shot" });
    batchItemsIngested.inc({ api: "one_shot" }, count);
    return result;
  } catch (err) {
    if (isUniqueViolation(err)) {
      const winner = await cachedBatch();
      if (winner) return winner;
    }
    throw err;
  }
}
