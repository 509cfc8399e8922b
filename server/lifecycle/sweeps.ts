import type { Kysely, Transaction } from "kysely";
import type { Database } from "../../db/schema.js";
import { transaction } from "../../db/transaction.js";
import type { Bus } from "../adapters/bus.js";
import { notifyEvents } from "../events/notify.js";
import { countLeaseExpiries } from "../observability/metrics.js";
import { countFinishedRuns, recordTransitions } from "./batch-completion.js";
import { type RetryPolicy, retryOrFail } from "./fail.js";
import { TRANSITION_COLUMNS, type TransitionedRun } from "./record.js";

/** Rows one sweep statement handles; a sweep repeats while it keeps finding full batches. */
export const SWEEP_BATCH = 1000;
const MAX_ROUNDS = 50;

/** One round of a sweep: moves at most SWEEP_BATCH due runs in the caller's transaction. */
export type SweepStep = (trx: Transaction<Database>, now: Date) => Promise<TransitionedRun[]>;

/**
 * Runs one sweep step repeatedly (each in its own transaction) until it finds fewer due rows than
 * it can take, then wakes every environment it changed (a queued run is claimable, a finished one
 * may have completed a batch and queued its parent). Every step picks its rows with
 * `FOR UPDATE SKIP LOCKED`, so any number of server processes can sweep at once. Answers the runs
 * it moved, all committed.
 */
export async function sweep(deps: { db: Kysely<Database>; bus: Bus }, step: SweepStep): Promise<TransitionedRun[]> {
  const environments = new Set<string>();
  const moved: TransitionedRun[] = [];
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const rows = await transaction(deps.db, (trx) => step(trx, new Date()));
    for (const r of rows) environments.add(r.environment_id);
    moved.push(...rows);
    if (rows.length < SWEEP_BATCH) break;
  }
  for (const env of environments) notifyEvents(deps.bus, env);
  return moved;
}

/** DELAYED runs whose time has come, and REATTEMPTING runs past their backoff, become QUEUED. */
export const promoteDueRuns: SweepStep = async (trx, now) => {
  const rows = await trx
    .updateTable("runs")
    .set({ status: "QUEUED", updated_at: now })
    .where("id", "in", (eb) =>
      eb
        .selectFrom("runs")
        .select("id")
        .where((w) =>
          w.or([
            w.and([w("status", "=", "DELAYED"), w("delay_until", "<=", now)]),
            w.and([w("status", "=", "REATTEMPTING"), w("retry_at", "<=", now)]),
          ]),
        )
        .limit(SWEEP_BATCH)
        .forUpdate()
        .skipLocked(),
    )
    .where("status", "in", ["DELAYED", "REATTEMPTING"])
    .returning(TRANSITION_COLUMNS)
    .execute();
  await recordTransitions(trx, rows, now);
  return rows;
};

const LEASE_EXPIRED = JSON.stringify({
  name: "LeaseExpired",
  message:
    "The worker stopped heartbeating before it reported a result (it crashed, was killed or lost its connection)",
});
const WORKER_DISCONNECTED = JSON.stringify({
  name: "WorkerDisconnected",
  message: "The worker's connection closed before it reported a result (its process ended or was killed)",
});

/**
 * A run whose worker is gone goes through retry-or-fail (`fail.ts`), as a handler that threw
 * would: the execution counts as an attempt. Gone means: its lease expired without a heartbeat
 * (crashed, killed, partitioned), or its presence stream closed more than `disconnectGraceMs` ago
 * and was not reopened (see server/queue/presence.ts), which notices a dead worker within seconds
 * instead of a lease. This is what makes delivery at-least-once: the lost worker may in fact
 * have finished the work.
 */
export function reclaimLostRuns(policy: RetryPolicy & { disconnectGraceMs: number }): SweepStep {
  return async (trx, now) => {
    const disconnectedBefore = new Date(now.getTime() - policy.disconnectGraceMs);
    const due = await trx
      .selectFrom("runs")
      .select(["runs.id", "runs.attempt", "runs.max_attempts"])
      .select((eb) => eb("runs.lease_expires_at", ">=", now).as("disconnected"))
      .where("runs.status", "=", "EXECUTING")
      .where((eb) =>
        eb.or([
          eb("runs.lease_expires_at", "<", now),
          eb.exists(
            eb
              .selectFrom("workers")
              .select("workers.id")
              .whereRef("workers.id", "=", "runs.lease_owner")
              .whereRef("workers.environment_id", "=", "runs.environment_id")
              .where("workers.disconnected_at", "<", disconnectedBefore),
          ),
        ]),
      )
      .limit(SWEEP_BATCH)
      .forUpdate("runs")
      .skipLocked()
      .execute();
    countLeaseExpiries(trx, {
      worker_disconnected: due.filter((run) => run.disconnected).length,
      lease_expired: due.filter((run) => !run.disconnected).length,
    });
    const rows = await retryOrFail(
      trx,
      due.map(({ disconnected, ...run }) => ({
        ...run,
        error: disconnected ? WORKER_DISCONNECTED : LEASE_EXPIRED,
        retry: true,
      })),
      policy,
      now,
    );
    await countFinishedRuns(trx, rows, now);
    return rows;
  };
}
