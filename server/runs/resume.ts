import type { Transaction } from "kysely";
import type { Database } from "../../db/schema.js";
import { appendEvents } from "../events/outbox.js";

/**
 * Parks a run that called batchTriggerAndWait: it leaves its worker (no lease) and waits for the
 * batch. Only an executing run of the same environment can be parked; anything else (a parent id
 * that is no run of this environment) is stored on the batch and otherwise ignored.
 */
export async function parkParent(
  trx: Transaction<Database>,
  environmentId: string,
  parentRunId: string,
  batchId: string,
  now: Date,
) {
  const parked = await trx
    .updateTable("runs")
    .set({ status: "WAITING", lease_owner: null, lease_expires_at: null, claim_id: null, updated_at: now })
    .where("id", "=", parentRunId)
    .where("environment_id", "=", environmentId)
    .where("status", "=", "EXECUTING")
    .returning(["id", "batch_id", "task_identifier", "attempt"])
    .executeTakeFirst();
  if (!parked) return false;
  await appendEvents(trx, [
    {
      environment_id: environmentId,
      batch_id: parked.batch_id,
      run_id: parked.id,
      type: "run.status",
      data: JSON.stringify({
        status: "WAITING",
        taskIdentifier: parked.task_identifier,
        attempt: parked.attempt,
        waitingFor: batchId,
      }),
    },
  ]);
  return true;
}

/**
 * Queues a waiting parent again once its batch is done. The handler then runs again from the
 * top and its batchTriggerAndWait call finds the finished batch (same idempotency key) and
 * returns the children's results. Resuming is not a new attempt: the dequeue that follows adds
 * one back, so `attempt` is lowered by one here.
 */
export async function resumeParent(trx: Transaction<Database>, environmentId: string, parentRunId: string, now: Date) {
  const resumed = await trx
    .updateTable("runs")
    .set((eb) => ({ status: "QUEUED", attempt: eb("attempt", "-", 1), updated_at: now }))
    .where("id", "=", parentRunId)
    .where("environment_id", "=", environmentId)
    .where("status", "=", "WAITING")
    .returning(["id", "batch_id", "task_identifier", "attempt"])
    .executeTakeFirst();
  if (!resumed) return false;
  await appendEvents(trx, [
    {
      environment_id: environmentId,
      batch_id: resumed.batch_id,
      run_id: resumed.id,
      type: "run.status",
      data: JSON.stringify({
        status: "QUEUED",
        taskIdentifier: resumed.task_identifier,
        attempt: resumed.attempt,
        resumed: true,
      }),
    },
  ]);
  return true;
}
