import superjson from "superjson";
import type { Kysely } from "kysely";
import type { ClaimedRun } from "../../shared/worker.js";
import type { Database, RunRow } from "../../db/schema.js";
import type { AuthenticatedEnvironment } from "../auth/authenticate.js";
import type { Deps } from "../deps.js";
import { resolvePacket } from "../runs/packets.js";
import { recordTransitions, retryDelayMs, TRANSITION_COLUMNS } from "../runs/transitions.js";
import { claimRuns } from "./claim.js";
import { wakeWorkers, workChannel } from "./wake.js";

export interface SerializedError {
  message: string;
  name?: string;
  stackTrace?: string;
}

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

async function present(db: Kysely<Database>, row: RunRow, defaultMaxAttempts: number): Promise<ClaimedRun> {
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
 * wake-up and tries again. The subscription starts before the first claim, so a wake-up between
 * an empty claim and the wait is not lost.
 */
export async function dequeue(
  deps: Deps,
  env: AuthenticatedEnvironment,
  input: { workerId: string; tasks: string[]; max: number; waitMs: number },
  signal?: AbortSignal,
): Promise<ClaimedRun[]> {
  const { db, bus, config } = deps;
  const deadline = Date.now() + Math.min(input.waitMs, config.execution.dequeueMaxWaitMs);
  let wake: (() => void) | undefined;
  let woken = false;
  const unsubscribe = await bus.subscribe(workChannel(env.id), () => {
    woken = true;
    wake?.();
  });
  try {
    for (;;) {
      woken = false;
      const claimed = await db.transaction().execute((trx) =>
        claimRuns(trx, {
          environmentId: env.id,
          workerId: input.workerId,
          tasks: input.tasks,
          max: input.max,
          leaseMs: config.execution.leaseMs,
          now: new Date(),
        }),
      );
      const left = deadline - Date.now();
      if (claimed.length > 0 || left <= 0 || signal?.aborted) {
        return Promise.all(claimed.map((row) => present(db, row, config.execution.defaultMaxAttempts)));
      }
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

/** Only the worker holding a run's lease may finish it; a late report from a lost lease is ignored. */
const heldBy = (db: Kysely<Database>, env: AuthenticatedEnvironment, workerId: string, runId: string) =>
  db
    .updateTable("runs")
    .where("id", "=", runId)
    .where("environment_id", "=", env.id)
    .where("status", "=", "EXECUTING")
    .where("lease_owner", "=", workerId);

export async function completeRun(
  { db, bus }: Deps,
  env: AuthenticatedEnvironment,
  input: { workerId: string; runId: string; output?: unknown },
): Promise<{ accepted: boolean }> {
  const result = await db.transaction().execute(async (trx) => {
    const now = new Date();
    const done = await heldBy(trx, env, input.workerId, input.runId)
      .set({
        status: "COMPLETED",
        output: input.output === undefined ? null : superjson.stringify(input.output),
        output_type: "application/super+json",
        finished_at: now,
        lease_owner: null,
        lease_expires_at: null,
        updated_at: now,
      })
      .returning(TRANSITION_COLUMNS)
      .executeTakeFirst();
    if (!done) return { accepted: false, resumed: 0 };
    const { resumedParents } = await recordTransitions(trx, [done], now);
    return { accepted: true, resumed: resumedParents };
  });
  // A finished run frees a slot of its queue (and may have queued a parent): idle workers waiting
  // on a full queue can claim again now rather than at their next re-check.
  if (result.accepted) wakeWorkers(bus, env.id);
  return { accepted: result.accepted };
}

/**
 * A failed attempt: REATTEMPTING with exponential backoff while attempts remain (or unless the
 * worker says not to retry), else FAILED.
 */
export async function failRun(
  deps: Deps,
  env: AuthenticatedEnvironment,
  input: { workerId: string; runId: string; error: SerializedError; retry?: boolean },
): Promise<{ accepted: boolean; willRetry: boolean }> {
  const { db, config } = deps;
  const result = await db.transaction().execute(async (trx) => {
    const run = await trx
      .selectFrom("runs")
      .select(["attempt", "max_attempts"])
      .where("id", "=", input.runId)
      .where("environment_id", "=", env.id)
      .where("status", "=", "EXECUTING")
      .where("lease_owner", "=", input.workerId)
      .forUpdate()
      .executeTakeFirst();
    if (!run) return { accepted: false, willRetry: false, resumed: 0 };
    const now = new Date();
    const maxAttempts = run.max_attempts ?? config.execution.defaultMaxAttempts;
    const willRetry = input.retry !== false && run.attempt < maxAttempts;
    const changed = await heldBy(trx, env, input.workerId, input.runId)
      .set({
        status: willRetry ? "REATTEMPTING" : "FAILED",
        error: JSON.stringify(input.error),
        retry_at: willRetry ? new Date(now.getTime() + retryDelayMs(run.attempt, config.execution.retryBaseMs, config.execution.retryMaxMs)) : null,
        finished_at: willRetry ? null : now,
        lease_owner: null,
        lease_expires_at: null,
        updated_at: now,
      })
      .returning(TRANSITION_COLUMNS)
      .executeTakeFirstOrThrow();
    const { resumedParents } = await recordTransitions(trx, [changed], now);
    return { accepted: true, willRetry, resumed: resumedParents };
  });
  if (result.accepted) wakeWorkers(deps.bus, env.id);
  return { accepted: result.accepted, willRetry: result.willRetry };
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
