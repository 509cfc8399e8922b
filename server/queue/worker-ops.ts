import type { z } from "zod";
import type { SerializedErrorSchema } from "../../shared/schemas.js";
import { type Kysely, sql, type Transaction } from "kysely";
import type { ClaimedRun } from "../../shared/worker.js";
import type { Database } from "../../db/schema.js";
import type { AuthenticatedEnvironment } from "../auth/authenticate.js";
import type { Deps } from "../deps.js";
import { resolvePacket } from "../runs/packets.js";
import { recordTransitions, retryDelayMs, TRANSITION_COLUMNS, type TransitionedRun } from "../runs/transitions.js";
import { type ClaimedRow, claimRuns } from "./claim.js";
import { completeMany, completion, settleCompletion } from "./complete.js";
import { wakeWorkers, workChannel } from "./wake.js";

/** The error a worker reports, as the shared contract defines it. */
export type SerializedError = z.infer<typeof SerializedErrorSchema>;

/** The longest a single wait sleeps without re-checking: covers a missed wake-up (Redis down). */
const RECHECK_MS = 2_000;

export async function registerWorker({ db, config }: Deps, env: AuthenticatedEnvironment, input: { workerId: string; tasks: string[] }) {
  await db
    .insertInto("workers")
    .values({ id: input.workerId, environment_id: env.id, tasks: input.tasks })
    .onConflict((oc) => oc.column("id").doUpdateSet({ tasks: input.tasks, last_seen_at: new Date() }).where("workers.environment_id", "=", env.id))
    .execute();
  return { workerId: input.workerId, leaseMs: config.execution.leaseMs };
}

async function presentRun(db: Kysely<Database>, row: ClaimedRow, defaultMaxAttempts: number): Promise<ClaimedRun> {
  return {
    id: row.id,
    taskIdentifier: row.task_identifier,
    // An offloaded payload (application/store) is fetched from the packet store first.
    payload: await resolvePacket(db, row.environment_id, { data: row.payload, type: row.payload_type }),
    payloadType: row.payload_type,
    attempt: row.attempt,
    maxAttempts: row.max_attempts ?? defaultMaxAttempts,
    queue: row.queue,
    ...(row.concurrency_key !== null ? { concurrencyKey: row.concurrency_key } : {}),
    tags: row.tags,
    ...(row.metadata !== null ? { metadata: row.metadata as Record<string, unknown> } : {}),
    ...(row.batch_id !== null ? { batchId: row.batch_id } : {}),
    ...(row.batch_index !== null ? { batchIndex: row.batch_index } : {}),
    ...(row.parent_run_id !== null ? { parentRunId: row.parent_run_id } : {}),
    leaseExpiresAt: row.lease_expires_at!,
  };
}

/**
 * Claims runs for a worker; when there are none, waits (at most `waitMs`, capped by config) for a
 * wake-up and tries again. Outcomes the worker sends along are recorded in the first claim's
 * transaction, before it claims (so the slots they free can be claimed at once): a busy worker
 * reports and claims in one round trip. They are committed before any wait.
 *
 * A busy worker's claim costs no Redis round trip: the wake-up channel is subscribed only after a
 * claim came back empty, and the claim is repeated once subscribed, so a wake-up between that
 * empty claim and the wait is not lost.
 */
export async function dequeue(
  deps: Deps,
  env: AuthenticatedEnvironment,
  input: { workerId: string; tasks: string[]; max: number; waitMs: number } & Partial<Omit<Outcomes, "workerId">>,
  signal?: AbortSignal,
): Promise<ClaimedRun[]> {
  const { db, bus, config } = deps;
  const deadline = Date.now() + Math.min(input.waitMs, config.execution.dequeueMaxWaitMs);
  const claim = async (completed: Outcomes["completed"] = [], failed: Outcomes["failed"] = []) => {
    const { claimed, reported } = await db.transaction().execute(async (trx) => {
      const now = new Date();
      // Failures first, so the slots they free can be claimed; completions run in the claim's statement.
      const failures = await failMany(trx, config, env, input.workerId, failed, now);
      const completing = completed.length > 0 ? completion(env.id, input.workerId, completed, now) : undefined;
      const result = await claimRuns(
        trx,
        { environmentId: env.id, workerId: input.workerId, tasks: input.tasks, max: input.max, leaseMs: config.execution.leaseMs, now },
        completing,
      );
      const completedRuns = await settleCompletion(trx, result.completion, now);
      return { claimed: result.runs, reported: failures.changed.length + completedRuns.length };
    });
    // Claims and outcomes wrote events: tell subscribers (and, harmlessly, idle workers).
    if (claimed.length > 0 || reported > 0) wakeWorkers(bus, env.id);
    return claimed;
  };
  const present = (rows: ClaimedRow[]) => Promise.all(rows.map((row) => presentRun(db, row, config.execution.defaultMaxAttempts)));

  const first = await claim(input.completed, input.failed);
  if (first.length > 0 || deadline <= Date.now() || signal?.aborted) return present(first);

  let wake: (() => void) | undefined;
  let woken = false;
  const unsubscribe = await bus.subscribe(workChannel(env.id), () => {
    woken = true;
    wake?.();
  });
  try {
    for (;;) {
      woken = false;
      // A worker that went away (stopped, or died) while waiting must not be handed runs.
      if (signal?.aborted) return [];
      const claimed = await claim();
      if (signal?.aborted && claimed.length > 0) {
        await releaseRuns(deps, env, { workerId: input.workerId, runIds: claimed.map((r) => r.id) });
        return [];
      }
      const left = deadline - Date.now();
      if (claimed.length > 0 || left <= 0 || signal?.aborted) return present(claimed);
      if (!woken) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(left, RECHECK_MS));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
          signal?.addEventListener("abort", wake, { once: true });
        });
        wake = undefined;
      }
    }
  } finally {
    await unsubscribe();
  }
}

/** Extends the leases a worker still holds; answers which of the runs it no longer holds. */
export async function heartbeat({ db, config }: Deps, env: AuthenticatedEnvironment, input: { workerId: string; runIds: string[] }) {
  const now = new Date();
  const held =
    input.runIds.length === 0
      ? []
      : await db
          .updateTable("runs")
          .set({ lease_expires_at: new Date(now.getTime() + config.execution.leaseMs), updated_at: now })
          .where("id", "in", input.runIds)
          .where("environment_id", "=", env.id)
          .where("status", "=", "EXECUTING")
          .where("lease_owner", "=", input.workerId)
          .returning("id")
          .execute();
  await db.updateTable("workers").set({ last_seen_at: now }).where("id", "=", input.workerId).where("environment_id", "=", env.id).execute();
  const heldIds = new Set(held.map((r) => r.id));
  return { lost: input.runIds.filter((id) => !heldIds.has(id)) };
}

export interface Outcomes {
  workerId: string;
  completed: { runId: string; output?: unknown }[];
  failed: { runId: string; error: SerializedError; retry?: boolean }[];
}

/**
 * Records what a worker's handlers did, many runs in one transaction: COMPLETED with the
 * output; or, for a failure, REATTEMPTING with exponential backoff while attempts remain (and
 * the handler did not ask not to be retried), else FAILED. Only the worker holding a run's lease
 * may finish it: a late report from a lost lease (or for a canceled run) is not accepted.
 */
export async function reportOutcomes(deps: Deps, env: AuthenticatedEnvironment, input: Outcomes): Promise<{ accepted: string[]; willRetry: string[] }> {
  if (input.completed.length + input.failed.length === 0) return { accepted: [], willRetry: [] };
  const result = await deps.db.transaction().execute(async (trx) => {
    const now = new Date();
    const completed = input.completed.length > 0 ? await completeMany(trx, env.id, input.workerId, input.completed, now) : [];
    const { changed, willRetry } = await failMany(trx, deps.config, env, input.workerId, input.failed, now);
    return { accepted: [...completed, ...changed].map((r) => r.id), willRetry };
  });
  // Finished runs free slots of their queues (and may have queued a parent): idle workers
  // waiting on a full queue can claim again now rather than at their next re-check.
  if (result.accepted.length > 0) wakeWorkers(deps.bus, env.id);
  return result;
}

/**
 * Records failures the worker holding their leases reports: REATTEMPTING with backoff while
 * attempts remain (and the handler did not ask not to be retried), else FAILED. Two statements
 * however many failures: the leased runs are read and locked, then all updated at once (each
 * run's backoff is computed here, as the sweeps do).
 */
async function failMany(
  trx: Transaction<Database>,
  config: Deps["config"],
  env: AuthenticatedEnvironment,
  workerId: string,
  failed: Outcomes["failed"],
  now: Date,
): Promise<{ changed: TransitionedRun[]; willRetry: string[] }> {
  if (failed.length === 0) return { changed: [], willRetry: [] };
  const held = await trx
    .selectFrom("runs")
    .select(["id", "attempt", "max_attempts"])
    .where("id", "in", failed.map((f) => f.runId))
    .where("environment_id", "=", env.id)
    .where("status", "=", "EXECUTING")
    .where("lease_owner", "=", workerId)
    .forUpdate()
    .execute();
  if (held.length === 0) return { changed: [], willRetry: [] };
  const byId = new Map(failed.map((f) => [f.runId, f]));
  const { retryBaseMs, retryMaxMs, defaultMaxAttempts } = config.execution;
  const rows = held.map((run) => {
    const failure = byId.get(run.id)!;
    const retry = failure.retry !== false && run.attempt < (run.max_attempts ?? defaultMaxAttempts);
    return {
      id: run.id,
      status: retry ? "REATTEMPTING" : "FAILED",
      error: JSON.stringify(failure.error),
      retry_at: retry ? new Date(now.getTime() + retryDelayMs(run.attempt, retryBaseMs, retryMaxMs)).toISOString() : null,
    };
  });
  const { rows: changed } = await sql<TransitionedRun>`
    update runs
    set status = v.status, error = v.error::jsonb, retry_at = v.retry_at,
        finished_at = case when v.status = 'FAILED' then ${now}::timestamptz end,
        lease_owner = null, lease_expires_at = null, updated_at = ${now}
    from json_to_recordset(${JSON.stringify(rows)}::json) as v(id text, status text, error text, retry_at timestamptz)
    where runs.id = v.id
    returning ${sql.join(TRANSITION_COLUMNS.map((c) => sql.ref(`runs.${c}`)))}`.execute(trx);
  await recordTransitions(trx, changed, now);
  return { changed, willRetry: rows.filter((r) => r.status === "REATTEMPTING").map((r) => r.id) };
}

export async function completeRun(deps: Deps, env: AuthenticatedEnvironment, input: { workerId: string; runId: string; output?: unknown }) {
  const { accepted } = await reportOutcomes(deps, env, { workerId: input.workerId, completed: [input], failed: [] });
  return { accepted: accepted.length === 1 };
}

export async function failRun(
  deps: Deps,
  env: AuthenticatedEnvironment,
  input: { workerId: string; runId: string; error: SerializedError; retry?: boolean },
) {
  const { accepted, willRetry } = await reportOutcomes(deps, env, { workerId: input.workerId, completed: [], failed: [input] });
  return { accepted: accepted.length === 1, willRetry: willRetry.length === 1 };
}

/** Gives runs back (a stopping worker): queued again, and the attempt does not count. */
export async function releaseRuns(deps: Deps, env: AuthenticatedEnvironment, input: { workerId: string; runIds: string[] }) {
  if (input.runIds.length === 0) return { released: 0 };
  const released = await deps.db.transaction().execute(async (trx) => {
    const now = new Date();
    const rows = await trx
      .updateTable("runs")
      .set((eb) => ({ status: "QUEUED", attempt: eb("attempt", "-", 1), lease_owner: null, lease_expires_at: null, updated_at: now }))
      .where("id", "in", input.runIds)
      .where("environment_id", "=", env.id)
      .where("status", "=", "EXECUTING")
      .where("lease_owner", "=", input.workerId)
      .returning(TRANSITION_COLUMNS)
      .execute();
    await recordTransitions(trx, rows, now);
    return rows.length;
  });
  if (released > 0) wakeWorkers(deps.bus, env.id);
  return { released };
}
