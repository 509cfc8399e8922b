import { type Kysely, sql } from "kysely";
import type { Database } from "../../db/schema.js";
import { transaction } from "../../db/transaction.js";
import type { Bus } from "../adapters/bus.js";
import { notifyEvents } from "../events/notify.js";
import { abortBatches } from "./batch-abort.js";
import { tryLockBatchStream } from "./stream-lock.js";

const SWEEP_BATCH = 100;
const MAX_ROUNDS = 20;

interface SealTimeoutDeps {
  db: Kysely<Database>;
  bus: Bus;
  config: { limits: { batchSealTimeoutMs: number } };
}

/**
 * One round: aborts up to SWEEP_BATCH two-phase batches created more than the seal timeout ago and
 * still waiting for items. Rows are taken with `FOR UPDATE SKIP LOCKED` and only while still
 * PENDING and unsealed (re-checked on the locked row), so several servers sweeping at once, or a
 * stream sealing the batch at the same moment, never abort a batch twice or abort a sealed one. A
 * batch whose chunk is being written right now (its stream lock is taken) is left for the next
 * round. Items that arrived in time became runs and go on; every other index counts as failed (an
 * item error, or an item that never came).
 */
export async function abortUnsealedBatches(deps: SealTimeoutDeps, now = new Date()): Promise<number> {
  const cutoff = new Date(now.getTime() - deps.config.limits.batchSealTimeoutMs);
  const environments = await transaction(deps.db, async (trx) => {
    const { rows } = await sql<{
      id: string;
      environment_id: string;
      parent_run_id: string | null;
      resume_parent_on_completion: boolean;
      enqueued_count: number;
      run_count: number;
      successful: number;
    }>`
      select id, environment_id, parent_run_id, resume_parent_on_completion, enqueued_count, run_count,
             (select count(*)::int from batch_items i where i.batch_id = batches.id and i.run_id is not null) as successful
      from batches
      where sealed = false and status = 'PENDING' and created_at < ${cutoff} and ${tryLockBatchStream(sql.ref("batches.id"))}
      limit ${SWEEP_BATCH}
      for update skip locked`.execute(trx);
    await abortBatches(
      trx,
      rows.map((b) => ({
        ...b,
        failed: b.run_count - b.successful,
        event: { reason: "seal_timeout", enqueuedCount: b.enqueued_count, expectedCount: b.run_count },
      })),
      now,
    );
    return rows.map((b) => b.environment_id);
  });
  // Every aborted batch wrote an event (and may have queued its parent): wake each environment once.
  for (const env of new Set(environments)) notifyEvents(deps.bus, env);
  return environments.length;
}

/** Aborts every batch past the seal timeout, a round at a time. */
export async function abortAllUnsealedBatches(deps: SealTimeoutDeps): Promise<void> {
  for (let round = 0; round < MAX_ROUNDS; round++) {
    if ((await abortUnsealedBatches(deps)) < SWEEP_BATCH) break;
  }
}
