import type { Transaction, UpdateObject } from "kysely";
import type { Database } from "../../db/schema.js";
import { transaction } from "../../db/transaction.js";
import { appendEvents } from "../events/outbox.js";
import { runStatusEvent, TRANSITION_COLUMNS } from "./record.js";

type RunUpdate = UpdateObject<Database, "runs", "runs">;

/**
 * Moves a parent run of the environment from `from` to the state `set` gives it, recording its
 * `run.status` event with `extra`. A parent id that names no run of the environment in state
 * `from` changes nothing (false).
 */
async function moveParent(
  trx: Transaction<Database>,
  environmentId: string,
  parentRunId: string,
  from: "EXECUTING" | "WAITING",
  set: RunUpdate,
  extra: Record<string, unknown>,
): Promise<boolean> {
  const moved = await trx
    .updateTable("runs")
    .set(set)
    .where("id", "=", parentRunId)
    .where("environment_id", "=", environmentId)
    .where("status", "=", from)
    .returning(TRANSITION_COLUMNS)
    .executeTakeFirst();
  if (!moved) return false;
  await appendEvents(trx, [runStatusEvent(moved, extra)]);
  return true;
}

/**
 * Parks a run that called batchTriggerAndWait: it leaves its worker (no lease) and waits for the
 * batch. Only an executing run of the same environment can be parked; anything else (a parent id
 * that is no run of this environment) is stored on the batch and otherwise ignored.
 */
export function parkParent(
  trx: Transaction<Database>,
  environmentId: string,
  parentRunId: string,
  batchId: string,
  now: Date,
): Promise<boolean> {
  return moveParent(
    trx,
    environmentId,
    parentRunId,
    "EXECUTING",
    { status: "WAITING", lease_owner: null, lease_expires_at: null, claim_id: null, updated_at: now },
    { waitingFor: batchId },
  );
}

/**
 * Queues a waiting parent again once its batch is done. The handler then runs again from the
 * top and its batchTriggerAndWait call finds the finished batch (same idempotency key) and
 * returns the children's results. Resuming is not a new attempt: the dequeue that follows adds
 * one back, so `attempt` is lowered by one here.
 */
export function resumeParent(
  trx: Transaction<Database>,
  environmentId: string,
  parentRunId: string,
  now: Date,
): Promise<boolean> {
  return moveParent(
    trx,
    environmentId,
    parentRunId,
    "WAITING",
    { status: "QUEUED", attempt: (eb) => eb("attempt", "-", 1), updated_at: now },
    { resumed: true },
  );
}

/**
 * Parks the parent if the batch is still running (a parent asking again for a batch it already
 * created: after a resume, or a retry). The parent's row is locked first, then the batch read
 * (lock order: runs before batches): a completion that commits before the read is seen; one that
 * commits after it resumes the parent parked here (it waits for this lock).
 */
export async function parkUntilDone(
  db: Parameters<typeof transaction>[0],
  environmentId: string,
  parentRunId: string,
  batchId: string,
) {
  await transaction(db, async (trx) => {
    await trx
      .selectFrom("runs")
      .select("id")
      .where("id", "=", parentRunId)
      .where("environment_id", "=", environmentId)
      .forUpdate()
      .execute();
    const batch = await trx.selectFrom("batches").select("status").where("id", "=", batchId).executeTakeFirstOrThrow();
    if (batch.status !== "COMPLETED" && batch.status !== "ABORTED")
      await parkParent(trx, environmentId, parentRunId, batchId, new Date());
  });
}
