import type { Deps } from "../../server/deps.js";
import { notifyEvents } from "../../server/events/notify.js";
import { recordTransitions } from "../../server/lifecycle/batch-completion.js";
import { TRANSITION_COLUMNS } from "../../server/lifecycle/record.js";
import { FINAL_RUN_STATUSES, type RunStatus } from "../../shared/index.js";

/**
 * Moves runs to a status the way the run lifecycle does: the update, then `recordTransitions`
 * (its `run.status` events and the batch completion bookkeeping) in one transaction, then a
 * wake-up. Lets subscription tests drive exact transitions without a worker.
 */
export async function setRunStatus(
  deps: Deps,
  environmentId: string,
  runIds: string[],
  status: RunStatus,
): Promise<void> {
  const now = new Date();
  await deps.db.transaction().execute(async (trx) => {
    const rows = await trx
      .updateTable("runs")
      .set({ status, updated_at: now, ...(FINAL_RUN_STATUSES.includes(status) ? { finished_at: now } : {}) })
      .where("environment_id", "=", environmentId)
      .where("id", "in", runIds)
      .returning(TRANSITION_COLUMNS)
      .execute();
    await recordTransitions(trx, rows, now);
  });
  notifyEvents(deps.bus, environmentId);
}
