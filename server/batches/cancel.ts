import { transaction } from "../../db/transaction.js";
import type { AuthenticatedEnvironment } from "../auth/authenticate.js";
import type { Deps } from "../deps.js";
import { notifyEvents } from "../events/notify.js";
import { cancelRuns } from "../lifecycle/cancel.js";
import { ownRunIds } from "../runs/own-runs.js";
import { assertBatchOfEnvironment } from "./queries.js";

/** Cancels every unfinished run the batch created (runs it only shares through an idempotency key are left alone). */
export async function cancelBatch(
  deps: Deps,
  env: AuthenticatedEnvironment,
  batchId: string,
): Promise<{ id: string; canceledRuns: number }> {
  const canceled = await transaction(deps.db, async (trx) => {
    // Not locked: the runs are locked first and the batch rows after them (when their counts
    // change), as everywhere (docs/ARCHITECTURE.md, "Lock order").
    await assertBatchOfEnvironment(trx, env, batchId);
    return (await cancelRuns(trx, env.id, ownRunIds(trx, batchId), new Date())).length;
  });
  if (canceled > 0) notifyEvents(deps.bus, env.id);
  return { id: batchId, canceledRuns: canceled };
}
