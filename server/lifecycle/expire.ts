import { recordTransitions } from "./batch-completion.js";
import { TRANSITION_COLUMNS } from "./record.js";
import { SWEEP_BATCH, type SweepStep } from "./sweeps.js";

/**
 * Where a run expires: a run with a TTL that has not started by then (QUEUED or DELAYED) becomes
 * EXPIRED and never executes. A claim skips a run past its `expires_at` already, so a run is never
 * handed out between its expiry and this sweep.
 */
export const expireRuns: SweepStep = async (trx, now) => {
  const rows = await trx
    .updateTable("runs")
    .set({ status: "EXPIRED", expired_at: now, finished_at: now, updated_at: now })
    .where("id", "in", (eb) =>
      eb
        .selectFrom("runs")
        .select("id")
        .where("status", "in", ["QUEUED", "DELAYED"])
        .where("expires_at", "<=", now)
        .limit(SWEEP_BATCH)
        .forUpdate()
        .skipLocked(),
    )
    .where("status", "in", ["QUEUED", "DELAYED"])
    .returning(TRANSITION_COLUMNS)
    .execute();
  await recordTransitions(trx, rows, now);
  return rows;
};
