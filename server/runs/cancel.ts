import { sql, type Transaction } from "kysely";
import type { Database } from "../../db/schema.js";
import { transaction } from "../../db/transaction.js";
import { FINAL_RUN_STATUSES } from "../../shared/schemas.js";
import type { AuthenticatedEnvironment } from "../auth/authenticate.js";
import { ownRunIds } from "../batches/own-runs.js";
import type { Deps } from "../deps.js";
import { notFound } from "../errors.js";
import { wakeWorkers } from "../queue/wake.js";
import { recordTransitions, TRANSITION_COLUMNS, type TransitionedRun } from "./transitions.js";

/**
 * Cancels a run that has not finished (a finished one is left as it is). An executing run's
 * worker learns it at its next heartbeat, and its late report is then ignored.
 */
export async function cancelRun(
  deps: Deps,
  env: AuthenticatedEnvironment,
  runId: string,
): Promise<{ id: string; canceled: boolean }> {
  const result = await transaction(deps.db, async (trx) => {
    const rows = await cancelUnfinished(trx, env.id, [runId]);
    if (rows.length === 0) {
      const exists = await trx
        .selectFrom("runs")
        .select("id")
        .where("id", "=", runId)
        .where("environment_id", "=", env.id)
        .executeTakeFirst();
      if (!exists) throw notFound(`Run ${runId} not found`);
      return { canceled: false, resumed: 0 };
    }
    const { resumedParents } = await recordTransitions(trx, rows, new Date());
    return { canceled: true, resumed: resumedParents };
  });
  if (result.canceled) wakeWorkers(deps.bus, env.id);
  return { id: runId, canceled: result.canceled };
}

/** Cancels every unfinished run the batch created (runs it only shares through an idempotency key are left alone). */
export async function cancelBatch(
  deps: Deps,
  env: AuthenticatedEnvironment,
  batchId: string,
): Promise<{ id: string; canceledRuns: number }> {
  const result = await transaction(deps.db, async (trx) => {
    // Not locked: the runs are locked first and the batch rows after them (when their counts
    // change), as everywhere (docs/ARCHITECTURE.md, "Lock order").
    const batch = await trx
      .selectFrom("batches")
      .select("id")
      .where("id", "=", batchId)
      .where("environment_id", "=", env.id)
      .executeTakeFirst();
    if (!batch) throw notFound(`Batch ${batchId} not found`);
    const rows = await cancelUnfinished(trx, env.id, ownRunIds(trx, batchId));
    const { resumedParents } = await recordTransitions(trx, rows, new Date());
    return { canceled: rows.length, resumed: resumedParents };
  });
  if (result.canceled > 0) wakeWorkers(deps.bus, env.id);
  return { id: batchId, canceledRuns: result.canceled };
}

/** Moves the unfinished runs among `ids` to CANCELED (locking them in id order), returning what changed. */
async function cancelUnfinished(
  trx: Transaction<Database>,
  environmentId: string,
  ids: string[] | ReturnType<typeof ownRunIds>,
): Promise<TransitionedRun[]> {
  const now = new Date();
  const { rows } = await sql<TransitionedRun>`
    with unfinished as materialized (
      select id from runs
      where id in (${Array.isArray(ids) ? sql.join(ids) : ids})
        and environment_id = ${environmentId} and status not in (${sql.join(FINAL_RUN_STATUSES)})
      order by id
      for update
    )
    update runs
    set status = 'CANCELED', finished_at = ${now}, lease_owner = null, lease_expires_at = null, claim_id = null, updated_at = ${now}
    from unfinished
    where runs.id = unfinished.id
    returning ${sql.join(TRANSITION_COLUMNS.map((c) => sql.ref(`runs.${c}`)))}`.execute(trx);
  return rows;
}
