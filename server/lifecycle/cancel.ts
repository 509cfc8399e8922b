import { type Expression, sql, type Transaction } from "kysely";
import type { Database } from "../../db/schema.js";
import { FINAL_RUN_STATUSES } from "../../shared/schemas.js";
import { recordTransitions } from "./batch-completion.js";
import { returningTransition, type TransitionedRun } from "./record.js";

/**
 * Cancels the unfinished runs among `ids` (a list, or a subquery of run ids) of the environment,
 * locking them in id order, and records them (events, batch bookkeeping); a finished run is left
 * as it is. An executing run's worker learns it at its next heartbeat, and its late report is then
 * ignored. Answers the runs it canceled.
 */
export async function cancelRuns(
  trx: Transaction<Database>,
  environmentId: string,
  ids: string[] | Expression<unknown>,
  now: Date,
): Promise<TransitionedRun[]> {
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
    ${returningTransition}`.execute(trx);
  await recordTransitions(trx, rows, now);
  return rows;
}
