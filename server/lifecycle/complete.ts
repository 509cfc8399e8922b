import { sql, type Transaction } from "kysely";
import { PREPARED } from "../../db/prepared.js";
import type { Database } from "../../db/schema.js";
import { runStatusEventsOf, type TransitionedRun } from "./record.js";

/**
 * A run a worker finished, naming the claim it finished it under (absent: an older worker), with
 * its output already written as `application/super+json` text (null: none).
 */
export interface CompletedRun {
  runId: string;
  claimId?: string;
  output: string | null;
}

/**
 * Completes many runs in one statement, the outputs travelling as one JSON parameter: locks the
 * runs (in id order, the lock order of docs/ARCHITECTURE.md), moves them to COMPLETED and writes
 * their events. Their batches are counted by a later statement (`countFinishedRuns`, see
 * `report.ts`): it must start after this one holds every run's lock, so it sees every batch item
 * that points at these runs and was committed before; an item added later had to wait for these
 * locks and then saw the runs final (see "Counters and completion"). One statement would count
 * with a snapshot taken before its locks were granted, and miss such items.
 *
 * Only the claim holding a run's lease may complete it: the same worker and, when the report
 * names one, the same claim (a late report from an earlier attempt is not accepted).
 */
export async function completeRuns(
  trx: Transaction<Database>,
  environmentId: string,
  workerId: string,
  completed: CompletedRun[],
  now: Date,
): Promise<TransitionedRun[]> {
  if (completed.length === 0) return [];
  const rows = completed.map((c) => ({ id: c.runId, claim_id: c.claimId ?? null, output: c.output }));
  // Prepared: one text however many runs.
  const { rows: done } = await sql<TransitionedRun>`${sql.raw(PREPARED)}
    with reported as (
      select distinct on (id) id, claim_id, output from json_to_recordset(${JSON.stringify(rows)}::json) as v(id text, claim_id text, output text)
    ),
    held as materialized (
      select runs.id, reported.output
      from runs join reported on runs.id = reported.id
      where runs.environment_id = ${environmentId} and runs.status = 'EXECUTING' and runs.lease_owner = ${workerId}
        and (reported.claim_id is null or runs.claim_id = reported.claim_id)
      order by runs.id
      for update of runs
    ),
    done as (
      update runs
      set status = 'COMPLETED', output = held.output, output_type = 'application/super+json',
          finished_at = ${now}, lease_owner = null, lease_expires_at = null, claim_id = null, updated_at = ${now}
      from held
      where runs.id = held.id
      returning runs.id, runs.environment_id, runs.batch_id, runs.task_identifier, runs.status, runs.attempt
    ),
    done_events as (${runStatusEventsOf("done")})
    select * from done`.execute(trx);
  return done;
}
