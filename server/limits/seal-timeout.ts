import { sql } from "kysely";
import { transaction } from "../../db/transaction.js";
import type { BackgroundTask } from "../background.js";
import { tryLockBatchStream } from "../batches/stream-lock.js";
import type { Deps } from "../deps.js";
import { appendEvents } from "../events/outbox.js";
import { wakeWorkers } from "../queue/wake.js";
import { resumeParent } from "../runs/resume.js";

const SWEEP_BATCH = 100;
const MAX_ROUNDS = 20;

/**
 * One round: aborts up to SWEEP_BATCH two-phase batches created more than the seal timeout ago and
 * still waiting for items. Rows are taken with `FOR UPDATE SKIP LOCKED` and updated only while
 * still PENDING and unsealed, so several servers sweeping at once, or a stream sealing the batch
 * at the same moment, never abort a batch twice or abort a sealed one. Runs already created for
 * its items go on; a parent waiting on the batch is queued again.
 */
export async function abortUnsealedBatches(
  deps: Pick<Deps, "db" | "config" | "bus">,
  now = new Date(),
): Promise<number> {
  const cutoff = new Date(now.getTime() - deps.config.limits.batchSealTimeoutMs);
  const { aborted, resumedEnvironments } = await transaction(deps.db, async (trx) => {
    const rows = await trx
      .updateTable("batches")
      .set({
        status: "ABORTED",
        completed_at: now,
        updated_at: now,
        // Items that arrived in time became runs and go on; every other index counts as failed
        // (an item error, or an item that never came).
        successful_run_count: sql<number>`(select count(*)::int from batch_items i where i.batch_id = batches.id and i.run_id is not null)`,
        failed_run_count: sql<number>`run_count - (select count(*)::int from batch_items i where i.batch_id = batches.id and i.run_id is not null)`,
      })
      .where("id", "in", (eb) =>
        eb
          .selectFrom("batches")
          .select("id")
          .where("sealed", "=", false)
          .where("status", "=", "PENDING")
          .where("created_at", "<", cutoff)
          // A batch whose chunk is being written right now is left for the next round.
          .where(tryLockBatchStream(sql.ref("batches.id")))
          .limit(SWEEP_BATCH)
          .forUpdate()
          .skipLocked(),
      )
      .where("sealed", "=", false)
      .where("status", "=", "PENDING")
      .returning([
        "id",
        "environment_id",
        "parent_run_id",
        "resume_parent_on_completion",
        "enqueued_count",
        "run_count",
      ])
      .execute();
    if (rows.length === 0) return { aborted: 0, resumedEnvironments: [] as string[] };
    await appendEvents(
      trx,
      rows.map((b) => ({
        environment_id: b.environment_id,
        batch_id: b.id,
        run_id: null,
        type: "batch.status",
        data: JSON.stringify({
          status: "ABORTED",
          reason: "seal_timeout",
          enqueuedCount: b.enqueued_count,
          expectedCount: b.run_count,
        }),
      })),
    );
    const resumed: string[] = [];
    for (const b of rows) {
      if (
        b.resume_parent_on_completion &&
        b.parent_run_id !== null &&
        (await resumeParent(trx, b.environment_id, b.parent_run_id, now))
      ) {
        resumed.push(b.environment_id);
      }
    }
    // Every aborted batch wrote an event (and some resumed parents): wake each environment once.
    return { aborted: rows.length, resumedEnvironments: [...resumed, ...rows.map((b) => b.environment_id)] };
  });
  for (const env of new Set(resumedEnvironments)) wakeWorkers(deps.bus, env);
  return aborted;
}

/** Checks a few times per timeout (at most once a minute, at least every 50 ms). */
export const expireUnsealedBatches: BackgroundTask = {
  name: "expire-unsealed-batches",
  intervalMs: (deps) => Math.min(60_000, Math.max(50, Math.floor(deps.config.limits.batchSealTimeoutMs / 4))),
  async run(deps) {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      if ((await abortUnsealedBatches(deps)) < SWEEP_BATCH) break;
    }
  },
};
