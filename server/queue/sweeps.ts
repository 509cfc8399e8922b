import { sql } from "kysely";
import { transaction } from "../../db/transaction.js";
import type { BackgroundTask } from "../background.js";
import type { Deps } from "../deps.js";
import { recordTransitions, retryDelayMs, TRANSITION_COLUMNS, type TransitionedRun } from "../runs/transitions.js";
import { wakeWorkers } from "./wake.js";

/** Rows one sweep statement handles; a sweep repeats while it keeps finding full batches. */
const SWEEP_BATCH = 1000;
const MAX_ROUNDS = 50;

/**
 * Runs one sweep statement repeatedly (each in its own transaction) until it finds fewer due
 * rows than it can take. Every statement picks its rows with `FOR UPDATE SKIP LOCKED`, so any
 * number of server processes can sweep at once without stepping on each other.
 */
async function sweep(step: (now: Date) => Promise<TransitionedRun[]>): Promise<TransitionedRun[]> {
  const all: TransitionedRun[] = [];
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const rows = await step(new Date());
    all.push(...rows);
    if (rows.length < SWEEP_BATCH) break;
  }
  return all;
}

const sweepInterval = (deps: Deps) => deps.config.execution.sweepIntervalMs;

function wakeEnvironments(deps: Deps, runs: TransitionedRun[]) {
  for (const env of new Set(runs.map((r) => r.environment_id))) wakeWorkers(deps.bus, env);
}

/** DELAYED runs whose time has come, and REATTEMPTING runs past their backoff, become QUEUED. */
export const promoteDueRuns: BackgroundTask = {
  name: "promote-due-runs",
  intervalMs: sweepInterval,
  async run(deps) {
    const promoted = await sweep((now) =>
      transaction(deps.db, async (trx) => {
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
      }),
    );
    wakeEnvironments(deps, promoted);
  },
};

/** A run with a TTL that has not started by then becomes EXPIRED and never executes. */
export const expireRuns: BackgroundTask = {
  name: "expire-runs",
  intervalMs: sweepInterval,
  async run(deps) {
    // A run that finished may complete a batch and so queue its waiting parent: wake after commit.
    const expired = await sweep((now) =>
      transaction(deps.db, async (trx) => {
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
      }),
    );
    wakeEnvironments(deps, expired);
  },
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
 * A run whose worker is gone goes back for its next attempt after a backoff, or FAILS when its
 * attempts are used up: the execution counts as an attempt, as a handler that threw would. Gone
 * means: its lease expired without a heartbeat (crashed, killed, partitioned), or its presence
 * stream closed more than `disconnectGraceMs` ago and was not reopened (see presence.ts), which
 * notices a dead worker within seconds instead of a lease. This is what makes delivery
 * at-least-once: the lost worker may in fact have finished the work.
 */
export const reclaimExpiredLeases: BackgroundTask = {
  name: "reclaim-expired-leases",
  intervalMs: sweepInterval,
  async run(deps) {
    const { defaultMaxAttempts, retryBaseMs, retryMaxMs, disconnectGraceMs } = deps.config.execution;
    const reclaimed = await sweep((now) =>
      transaction(deps.db, async (trx) => {
        const disconnectedBefore = new Date(now.getTime() - disconnectGraceMs);
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
        if (due.length === 0) return [];
        // One statement for all of them; each run's backoff is computed here (retryDelayMs).
        const outcomes = due.map((r) => {
          const retry = r.attempt < (r.max_attempts ?? defaultMaxAttempts);
          return {
            id: r.id,
            status: retry ? "REATTEMPTING" : "FAILED",
            retry_at: retry
              ? new Date(now.getTime() + retryDelayMs(r.attempt, retryBaseMs, retryMaxMs)).toISOString()
              : null,
            error: r.disconnected ? WORKER_DISCONNECTED : LEASE_EXPIRED,
          };
        });
        const { rows } = await sql<TransitionedRun>`
          update runs
          set status = v.status, retry_at = v.retry_at, error = v.error::jsonb,
              finished_at = case when v.status = 'FAILED' then ${now}::timestamptz end,
              lease_owner = null, lease_expires_at = null, claim_id = null, updated_at = ${now}
          from json_to_recordset(${JSON.stringify(outcomes)}::json) as v(id text, status text, retry_at timestamptz, error text)
          where runs.id = v.id
          returning ${sql.join(TRANSITION_COLUMNS.map((c) => sql.ref(`runs.${c}`)))}`.execute(trx);
        await recordTransitions(trx, rows, now);
        return rows;
      }),
    );
    wakeEnvironments(deps, reclaimed);
  },
};

export const EXECUTION_TASKS = [promoteDueRuns, expireRuns, reclaimExpiredLeases];
