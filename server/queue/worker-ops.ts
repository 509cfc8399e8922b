import { type Kysely, sql, type Transaction } from "kysely";
import type { z } from "zod";
import { isTransientDbError } from "../../db/errors.js";
import type { Database } from "../../db/schema.js";
import { transaction } from "../../db/transaction.js";
import type { SerializedErrorSchema } from "../../shared/schemas.js";
import { dataTransformer } from "../../shared/transformer.js";
import type { ClaimedRun } from "../../shared/worker.js";
import type { AuthenticatedEnvironment } from "../auth/authenticate.js";
import type { Deps } from "../deps.js";
import { resolvePacket } from "../runs/packets.js";
import { recordTransitions, retryDelayMs, TRANSITION_COLUMNS, type TransitionedRun } from "../runs/transitions.js";
import { type ClaimedRow, claimRuns } from "./claim.js";
import { type CompletedRun, completeMany } from "./complete.js";
import { wakeWorkers, workChannel } from "./wake.js";

/** The error a worker reports, as the shared contract defines it. */
export type SerializedError = z.infer<typeof SerializedErrorSchema>;

/** The longest a single wait sleeps without re-checking: covers a missed wake-up (Redis down). */
const RECHECK_MS = 2_000;

export async function registerWorker(
  { db, config }: Deps,
  env: AuthenticatedEnvironment,
  input: { workerId: string; tasks: string[] },
) {
  await db
    .insertInto("workers")
    .values({ id: input.workerId, environment_id: env.id, tasks: input.tasks })
    .onConflict((oc) =>
      oc
        .column("id")
        .doUpdateSet({ tasks: input.tasks, last_seen_at: new Date() })
        .where("workers.environment_id", "=", env.id),
    )
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
    claimId: row.claim_id!,
  };
}

/**
 * Each claimed run as the worker receives it, checked to travel (the tRPC transformer writes it
 * here once): a run whose payload cannot be read (an offloaded packet gone missing) or written is
 * answered as a failure to record instead, so it never fails the runs claimed beside it. A
 * transient database error is thrown: the whole claim rolls back.
 */
async function deliverable(trx: Transaction<Database>, rows: ClaimedRow[], defaultMaxAttempts: number) {
  const delivered: ClaimedRun[] = [];
  const undeliverable: Outcomes["failed"] = [];
  for (const row of rows) {
    try {
      const run = await presentRun(trx, row, defaultMaxAttempts);
      dataTransformer.serialize(run);
      delivered.push(run);
    } catch (err) {
      if (isTransientDbError(err)) throw err;
      const message = `Run could not be handed to a worker: ${err instanceof Error ? err.message : String(err)}`;
      undeliverable.push({
        runId: row.id,
        claimId: row.claim_id ?? undefined,
        error: { name: "UndeliverableRunError", message: message.slice(0, 4096) },
        retry: false,
      });
    }
  }
  return { delivered, undeliverable };
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
  // The caller went away, or the server is shutting down: stop waiting and answer what there is.
  const stop = signal ? AbortSignal.any([signal, deps.closing]) : deps.closing;
  const claim = async (completed: Outcomes["completed"] = [], failed: Outcomes["failed"] = []) => {
    const { claimed, reported } = await transaction(db, async (trx) => {
      const now = new Date();
      // Outcomes first, so the slots they free can be claimed (and the lock order holds: a claim
      // takes queues last, docs/ARCHITECTURE.md).
      const failures = await failMany(trx, config, env, input.workerId, failed, now);
      const completedRuns = await completeMany(trx, env.id, input.workerId, completed, now);
      const runs = await claimRuns(trx, {
        environmentId: env.id,
        workerId: input.workerId,
        tasks: input.tasks,
        max: input.max,
        leaseMs: config.execution.leaseMs,
        now,
      });
      // The answer is built before the claim commits: a run that cannot be handed over is failed
      // here instead of staying claimed by a worker that never hears of it.
      const { delivered, undeliverable } = await deliverable(trx, runs, config.execution.defaultMaxAttempts);
      const refused = await failMany(trx, config, env, input.workerId, undeliverable, now);
      return { claimed: delivered, reported: failures.changed.length + completedRuns.length + refused.changed.length };
    });
    // Claims and outcomes wrote events: tell subscribers (and, harmlessly, idle workers).
    if (claimed.length > 0 || reported > 0) wakeWorkers(bus, env.id);
    return claimed;
  };

  const first = await claim(input.completed, input.failed);
  if (first.length > 0 || deadline <= Date.now() || stop.aborted) return first;

  let wake: (() => void) | undefined;
  let woken = false;
  // Redis unreachable: no wake-ups, the re-check every RECHECK_MS finds new work instead.
  const unsubscribe = await bus
    .subscribe(workChannel(env.id), () => {
      woken = true;
      wake?.();
    })
    .catch(() => async () => {});
  try {
    for (;;) {
      // Nothing is claimed for an answer that may never reach the worker (it would wait out the lease).
      if (stop.aborted) return [];
      woken = false;
      // A worker that went away (stopped, or died) while waiting must not be handed runs.
      if (signal?.aborted) return [];
      const claimed = await claim();
      if (signal?.aborted && claimed.length > 0) {
        await releaseRuns(deps, env, { workerId: input.workerId, runIds: claimed.map((r) => r.id) });
        return [];
      }
      const left = deadline - Date.now();
      if (claimed.length > 0 || left <= 0 || stop.aborted) return claimed;
      if (!woken) {
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            stop.removeEventListener("abort", done);
            resolve();
          };
          const timer = setTimeout(done, Math.min(left, RECHECK_MS));
          wake = done;
          stop.addEventListener("abort", done, { once: true });
        });
        wake = undefined;
      }
    }
  } finally {
    await unsubscribe();
  }
}

/**
 * Extends the leases of the claims a worker still holds; answers which it no longer holds (the run
 * was canceled, finished, or its lease expired and it went to another attempt). `claims` name
 * their claim; `runIds` (older workers) stand for "whatever claim this worker has on the run".
 */
export async function heartbeat(
  { db, config }: Deps,
  env: AuthenticatedEnvironment,
  input: { workerId: string; runIds?: string[]; claims?: ClaimRef[] },
): Promise<{ lost: string[]; lostClaims: string[] }> {
  const now = new Date();
  const asked: ClaimRef[] = [...(input.claims ?? []), ...(input.runIds ?? []).map((runId) => ({ runId }))];
  const held =
    asked.length === 0
      ? []
      : await transaction(db, async (trx) => {
          const { rows } = await sql<{ id: string; claim_id: string }>`
            with held as materialized (
              ${heldClaims(env.id, input.workerId, asked)}
            )
            update runs set lease_expires_at = ${new Date(now.getTime() + config.execution.leaseMs)}, updated_at = ${now}
            from held
            where runs.id = held.id
            returning runs.id, runs.claim_id`.execute(trx);
          return rows;
        });
  await db
    .updateTable("workers")
    .set({ last_seen_at: now })
    .where("id", "=", input.workerId)
    .where("environment_id", "=", env.id)
    .execute();
  const heldRuns = new Map(held.map((r) => [r.id, r.claim_id]));
  const isHeld = (c: ClaimRef) =>
    heldRuns.has(c.runId) && (c.claimId === undefined || heldRuns.get(c.runId) === c.claimId);
  const lost = asked.filter((c) => !isHeld(c));
  return {
    lost: lost.map((c) => c.runId),
    lostClaims: lost.flatMap((c) => (c.claimId === undefined ? [] : [c.claimId])),
  };
}

/** A claim a worker names: the run, and the claim's id (absent from older workers: any claim of theirs). */
export interface ClaimRef {
  runId: string;
  claimId?: string;
}

/**
 * The runs among `claims` that `workerId` holds under those claims, locked in id order (a
 * statement's first step whenever it changes leased runs, see docs/ARCHITECTURE.md).
 */
function heldClaims(environmentId: string, workerId: string, claims: ClaimRef[]) {
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

export interface Outcomes {
  workerId: string;
  completed: CompletedRun[];
  failed: (ClaimRef & { error: SerializedError; retry?: boolean })[];
}

/**
 * Records what a worker's handlers did, many runs in one transaction: COMPLETED with the
 * output; or, for a failure, REATTEMPTING with exponential backoff while attempts remain (and
 * the handler did not ask not to be retried), else FAILED. Only the claim holding a run's lease
 * may finish it: a late report from a lost lease or an earlier attempt (or for a canceled run) is
 * not accepted.
 */
export async function reportOutcomes(
  deps: Deps,
  env: AuthenticatedEnvironment,
  input: Outcomes,
): Promise<{ accepted: string[]; willRetry: string[] }> {
  if (input.completed.length + input.failed.length === 0) return { accepted: [], willRetry: [] };
  const result = await transaction(deps.db, async (trx) => {
    const now = new Date();
    const completed =
      input.completed.length > 0 ? await completeMany(trx, env.id, input.workerId, input.completed, now) : [];
    const { changed, willRetry } = await failMany(trx, deps.config, env, input.workerId, input.failed, now);
    return { accepted: [...completed, ...changed].map((r) => r.id), willRetry };
  });
  // Finished runs free slots of their queues (and may have queued a parent): idle workers
  // waiting on a full queue can claim again now rather than at their next re-check.
  if (result.accepted.length > 0) wakeWorkers(deps.bus, env.id);
  return result;
}

/**
 * Records failures the claims holding their leases report: REATTEMPTING with backoff while
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
  const { rows: held } = await sql<{
    id: string;
    attempt: number;
    max_attempts: number | null;
  }>`${heldClaims(env.id, workerId, failed)}`.execute(trx);
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
      retry_at: retry
        ? new Date(now.getTime() + retryDelayMs(run.attempt, retryBaseMs, retryMaxMs)).toISOString()
        : null,
    };
  });
  const { rows: changed } = await sql<TransitionedRun>`
    update runs
    set status = v.status, error = v.error::jsonb, retry_at = v.retry_at,
        finished_at = case when v.status = 'FAILED' then ${now}::timestamptz end,
        lease_owner = null, lease_expires_at = null, claim_id = null, updated_at = ${now}
    from json_to_recordset(${JSON.stringify(rows)}::json) as v(id text, status text, error text, retry_at timestamptz)
    where runs.id = v.id
    returning ${sql.join(TRANSITION_COLUMNS.map((c) => sql.ref(`runs.${c}`)))}`.execute(trx);
  await recordTransitions(trx, changed, now);
  return { changed, willRetry: rows.filter((r) => r.status === "REATTEMPTING").map((r) => r.id) };
}

export async function completeRun(
  deps: Deps,
  env: AuthenticatedEnvironment,
  input: { workerId: string } & CompletedRun,
) {
  const { accepted } = await reportOutcomes(deps, env, { workerId: input.workerId, completed: [input], failed: [] });
  return { accepted: accepted.length === 1 };
}

export async function failRun(
  deps: Deps,
  env: AuthenticatedEnvironment,
  input: { workerId: string; runId: string; claimId?: string; error: SerializedError; retry?: boolean },
) {
  const { accepted, willRetry } = await reportOutcomes(deps, env, {
    workerId: input.workerId,
    completed: [],
    failed: [input],
  });
  return { accepted: accepted.length === 1, willRetry: willRetry.length === 1 };
}

/** Gives claimed runs back (a stopping worker): queued again, and the attempt does not count. */
export async function releaseRuns(
  deps: Deps,
  env: AuthenticatedEnvironment,
  input: { workerId: string; runIds?: string[]; claims?: ClaimRef[] },
) {
  const claims: ClaimRef[] = [...(input.claims ?? []), ...(input.runIds ?? []).map((runId) => ({ runId }))];
  if (claims.length === 0) return { released: 0 };
  const released = await transaction(deps.db, async (trx) => {
    const now = new Date();
    const { rows } = await sql<TransitionedRun>`
      with held as materialized (${heldClaims(env.id, input.workerId, claims)})
      update runs
      set status = 'QUEUED', attempt = runs.attempt - 1, lease_owner = null, lease_expires_at = null, claim_id = null, updated_at = ${now}
      from held
      where runs.id = held.id
      returning ${sql.join(TRANSITION_COLUMNS.map((c) => sql.ref(`runs.${c}`)))}`.execute(trx);
    await recordTransitions(trx, rows, now);
    return rows.length;
  });
  if (released > 0) wakeWorkers(deps.bus, env.id);
  return { released };
}
