import type { z } from "zod";
import { isUniqueViolation } from "../../db/errors.js";
import type { BatchRow } from "../../db/schema.js";
import { transaction } from "../../db/transaction.js";
import { friendlyId } from "../../shared/ids.js";
import type { CreateBatchInputSchema, CreateBatchResult } from "../../shared/schemas.js";
import type { AuthenticatedEnvironment } from "../auth/authenticate.js";
import type { Deps } from "../deps.js";
import { badRequest } from "../errors.js";
import { notifyEvents } from "../events/notify.js";
import { appendEvents } from "../events/outbox.js";
import { parkParent } from "../lifecycle/parent.js";
import { batchStatusEvent } from "../lifecycle/record.js";
import { chargeBatchItems } from "../limits/batch-rate-limit.js";
import { batchesCreated } from "../observability/metrics.js";

type CreateBatchInput = z.output<typeof CreateBatchInputSchema>;

const answer = (batch: BatchRow, isCached: boolean): CreateBatchResult => ({
  id: batch.id,
  runCount: batch.run_count,
  isCached,
  ...(batch.idempotency_key !== null ? { idempotencyKey: batch.idempotency_key } : {}),
});

/** Phase 1 of the two-phase API: a PENDING batch waiting for `runCount` items. */
export async function createBatch(
  deps: Deps,
  environment: AuthenticatedEnvironment,
  input: CreateBatchInput,
): Promise<CreateBatchResult> {
  const { db, config } = deps;
  if (input.runCount <= 0) throw badRequest("runCount must be a positive integer");
  const max = config.limits.maxBatchRunCount;
  if (input.runCount > max) throw badRequest(`Batch runCount of ${input.runCount} exceeds maximum allowed of ${max}.`);

  const findExisting = async () => {
    // A retried request (same SDK request key) gets the first answer again, so the SDK goes on to
    // stream its items; a repeated batch idempotency key gets the batch marked as cached.
    if (input.requestIdempotencyKey) {
      const replay = await db
        .selectFrom("batches")
        .selectAll()
        .where("environment_id", "=", environment.id)
        .where("request_idempotency_key", "=", input.requestIdempotencyKey)
        .executeTakeFirst();
      if (replay) return answer(replay, false);
    }
    if (input.idempotencyKey) {
      const cached = await db
        .selectFrom("batches")
        .selectAll()
        .where("environment_id", "=", environment.id)
        .where("idempotency_key", "=", input.idempotencyKey)
        .executeTakeFirst();
      if (cached) return answer(cached, true);
    }
    return undefined;
  };

  const existing = await findExisting();
  if (existing) return existing;
  // Replays above cost nothing; a new batch pays for all its items before anything is written.
  await chargeBatchItems(deps, environment.id, input.runCount);

  const id = friendlyId("batch");
  try {
    const batch = await transaction(db, async (trx) => {
      const row = await trx
        .insertInto("batches")
        .values({
          id,
          environment_id: environment.id,
          status: "PENDING",
          run_count: input.runCount,
          idempotency_key: input.idempotencyKey ?? null,
          request_idempotency_key: input.requestIdempotencyKey ?? null,
          parent_run_id: input.parentRunId ?? null,
          resume_parent_on_completion: input.resumeParentOnCompletion ?? false,
          successful_run_count: null,
          failed_run_count: null,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await appendEvents(trx, [batchStatusEvent(row, "PENDING")]);
      if (input.parentRunId && input.resumeParentOnCompletion) {
        await parkParent(trx, environment.id, input.parentRunId, id, row.created_at);
      }
      return row;
    });
    notifyEvents(deps.bus, environment.id);
    batchesCreated.inc({ api: "two_phase" });
    return answer(batch, false);
  } catch (err) {
    // Two identical requests raced and the other one committed first: answer as it would have.
    if (isUniqueViolation(err)) {
      const winner = await findExisting();
      if (winner) return winner;
    }
    throw err;
  }
}
