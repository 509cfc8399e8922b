import { transaction } from "../../db/transaction.js";
import type { TaskItem, TriggerTaskResult } from "../../shared/schemas.js";
import type { AuthenticatedEnvironment } from "../auth/authenticate.js";
import type { Deps } from "../deps.js";
import { notifyEvents } from "../events/notify.js";
import { assertStoredPacketsExist } from "../packets/codec.js";
import { createRuns, planRuns } from "./create.js";
import { prepareRun } from "./prepare.js";
import { assertQueueRoom } from "./queue-cap.js";

/**
 * A single run, outside any batch; a live idempotency key returns the existing run, and a
 * request key seen before (the SDK retrying a trigger whose answer was lost) the first answer.
 */
export async function triggerTask(
  { db, bus, config }: Deps,
  environment: AuthenticatedEnvironment,
  item: TaskItem & { requestIdempotencyKey?: string },
): Promise<TriggerTaskResult> {
  if (item.requestIdempotencyKey) {
    const replay = await db
      .selectFrom("runs")
      .select("id")
      .where("environment_id", "=", environment.id)
      .where("request_idempotency_key", "=", item.requestIdempotencyKey)
      .executeTakeFirst();
    if (replay) return { id: replay.id, isCached: false };
  }
  await assertStoredPacketsExist(db, environment.id, [item]);
  const result = await transaction(db, async (trx) => {
    await assertQueueRoom(trx, environment.id, item.task, config.limits.maxQueuedRuns);
    const prepared = prepareRun(item, { environmentId: environment.id, now: new Date(), triggerFunction: "trigger" });
    prepared.row.request_idempotency_key = item.requestIdempotencyKey ?? null;
    const [outcome] = await createRuns(trx, planRuns([prepared]));
    return { id: outcome!.runId, isCached: outcome!.isCached };
  });
  notifyEvents(bus, environment.id);
  return result;
}
