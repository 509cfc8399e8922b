import { FINAL_RUN_STATUSES, type RunStatus } from "../../shared/index.js";
import { tryCompleteBatch } from "../../server/batches/finalize.js";
import type { Deps } from "../../server/deps.js";
import { notifyEvents } from "../../server/events/notify.js";
import { appendEvents } from "../../server/events/outbox.js";

/**
 * Moves runs to a status the way the run lifecycle (issue 3) will: the update, its `run.status`
 * events and the batch completion check in one transaction, then a wake-up. Workers do not exist on
 * this branch yet, so tests make runs finish with this.
 */
export async function setRunStatus(deps: Deps, environmentId: string, runIds: string[], status: RunStatus): Promise<void> {
  const now = new Date();
  await deps.db.transaction().execute(async (trx) => {
    const rows = await trx
      .updateTable("runs")
      .set({ status, updated_at: now, ...(FINAL_RUN_STATUSES.includes(status) ? { finished_at: now } : {}) })
      .where("environment_id", "=", environmentId)
      .where("id", "in", runIds)
      .returning(["id", "batch_id", "task_identifier", "attempt"])
      .execute();
    await appendEvents(
      trx,
      rows.map((r) => ({
        environment_id: environmentId,
        batch_id: r.batch_id,
        run_id: r.id,
        type: "run.status",
        data: JSON.stringify({ status, taskIdentifier: r.task_identifier, attempt: r.attempt }),
      })),
    );
    for (const batchId of new Set(rows.map((r) => r.batch_id).filter((b): b is string => b !== null))) {
      await tryCompleteBatch(trx, batchId, now);
    }
  });
  notifyEvents(deps.bus, environmentId);
}
