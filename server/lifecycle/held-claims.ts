import { sql } from "kysely";

/** A claim a worker names: the run, and the claim's id (absent from older workers: any claim of theirs). */
export interface ClaimRef {
  runId: string;
  claimId?: string;
}

/**
 * The runs among `claims` that `workerId` holds under those claims (`id, attempt, max_attempts`),
 * locked in id order: a statement's first step whenever it changes leased runs (failures,
 * releases, heartbeats; see docs/ARCHITECTURE.md, "Lock order").
 */
export function heldClaims(environmentId: string, workerId: string, claims: ClaimRef[]) {
  const rows = JSON.stringify(claims.map((c) => ({ id: c.runId, claim_id: c.claimId ?? null })));
  return sql`
    select runs.id, runs.attempt, runs.max_attempts
    from runs
    where runs.environment_id = ${environmentId} and runs.status = 'EXECUTING' and runs.lease_owner = ${workerId}
      and exists (
        select 1 from json_to_recordset(${rows}::json) as v(id text, claim_id text)
        where v.id = runs.id and (v.claim_id is null or v.claim_id = runs.claim_id)
      )
    order by runs.id
    for update of runs`;
}
