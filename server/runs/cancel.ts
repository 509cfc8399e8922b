import { transaction } from "../../db/transaction.js";
import type { AuthenticatedEnvironment } from "../auth/authenticate.js";
import type { Deps } from "../deps.js";
import { notFound } from "../errors.js";
import { notifyEvents } from "../events/notify.js";
import { cancelRuns } from "../lifecycle/cancel.js";

/**
 * Cancels a run that has not finished (a finished one is left as it is). An executing run's
 * worker learns it at its next heartbeat, and its late report is then ignored.
 */
export async function cancelRun(
  deps: Deps,
  env: AuthenticatedEnvironment,
  runId: string,
): Promise<{ id: string; canceled: boolean }> {
  const canceled = await transaction(deps.db, async (trx) => {
    if ((await cancelRuns(trx, env.id, [runId], new Date())).length > 0) return true;
    const exists = await trx
      .selectFrom("runs")
      .select("id")
      .where("id", "=", runId)
      .where("environment_id", "=", env.id)
      .executeTakeFirst();
    if (!exists) throw notFound(`Run ${runId} not found`);
    return false;
  });
  if (canceled) notifyEvents(deps.bus, env.id);
  return { id: runId, canceled };
}
