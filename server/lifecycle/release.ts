import { sql, type Transaction } from "kysely";
import type { Database } from "../../db/schema.js";
import { type ClaimRef, heldClaims } from "./held-claims.js";
import { recordRunStatus, returningTransition, type TransitionedRun } from "./record.js";

/**
 * Gives claimed runs back (a stopping worker, or an answer that can no longer reach it): QUEUED
 * again, and the attempt does not count. Only claims the worker still holds are released.
 */
export async function releaseClaims(
  trx: Transaction<Database>,
  environmentId: string,
  workerId: string,
  claims: ClaimRef[],
  now: Date,
): Promise<TransitionedRun[]> {
  if (claims.length === 0) return [];
  const { rows } = await sql<TransitionedRun>`
    with held as materialized (${heldClaims(environmentId, workerId, claims)})
    update runs
    set status = 'QUEUED', attempt = runs.attempt - 1, lease_owner = null, lease_expires_at = null, claim_id = null, updated_at = ${now}
    from held
    where runs.id = held.id
    ${returningTransition}`.execute(trx);
  // Nothing became final: there is nothing to count towards batches.
  await recordRunStatus(trx, rows);
  return rows;
}
