import { sql, type Transaction } from "kysely";
import type { Database } from "../../db/schema.js";
import { appendEvents } from "../events/outbox.js";
import { batchEnded } from "./batch-completion.js";
import { batchStatusEvent } from "./record.js";

/** A batch to abort, locked by the caller, with its final counts and what its event says besides. */
export interface BatchToAbort {
  id: string;
  environment_id: string;
  parent_run_id: string | null;
  resume_parent_on_completion: boolean;
  successful: number;
  failed: number;
  /** The rest of its `batch.status` event after `status: "ABORTED"`. */
  event: Record<string, unknown>;
}

/**
 * Every batch that aborts, aborts here: one whose sealing found no item that became a run
 * (`seal.ts`), and one whose items stopped coming before the seal timeout (`seal-timeout.ts`).
 * Runs already created for its items go on; a parent waiting on it is queued again
 * (`batchEnded`). The caller holds each batch's row lock and has checked it may still abort.
 */
export async function abortBatches(trx: Transaction<Database>, batches: BatchToAbort[], now: Date): Promise<void> {
  if (batches.length === 0) return;
  const counts = batches.map((b) => ({ id: b.id, successful: b.successful, failed: b.failed }));
  await sql`
    update batches
    set status = 'ABORTED', completed_at = ${now}, updated_at = ${now},
        successful_run_count = v.successful, failed_run_count = v.failed
    from json_to_recordset(${JSON.stringify(counts)}::json) as v(id text, successful integer, failed integer)
    where batches.id = v.id`.execute(trx);
  await appendEvents(
    trx,
    batches.map((b) => batchStatusEvent(b, "ABORTED", b.event)),
  );
  for (const b of batches) await batchEnded(trx, b, now);
}
