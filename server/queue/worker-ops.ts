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
import { eventsChannel, notifyEvents } from "../events/notify.js";
import { type ClaimedRow, claimRuns } from "../lifecycle/claim.js";
import { type ClaimRef, heldClaims } from "../lifecycle/held-claims.js";
import type { TransitionedRun } from "../lifecycle/record.js";
import { releaseClaims } from "../lifecycle/release.js";
import { type ReportedFailure, recordReport, type WorkerReport } from "../lifecycle/report.js";
import { claimDuration, dequeueWait } from "../observability/metrics.js";
import { logRunFailures } from "../observability/run-failures.js";
import { resolvePacket, superJsonText } from "../packets/codec.js";

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

async function toClaimedRun(db: Kysely<Database>, row: ClaimedRow, defaultMaxAttempts: number): Promise<ClaimedRun> {
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
async function deliverable(trx: Kysely<Database>, rows: ClaimedRow[], defaultMaxAttempts: number) {
  const delivered: ClaimedRun[] = [];
  const undeliverable: ReportedFailure[] = [];
  for (const row of rows) {
    try {
      const run = await toClaimedRun(trx, row, defaultMaxAttempts);
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
 * Claims runs and builds each one's answer (`deliverable`), failing a run that cannot be handed
 * over. In `trx` (a transaction of the caller's) that is all one transaction. Given the database,
 * the claim commits on its own (`claimRuns`) and a run that cannot be handed over is failed just
 * after, in a transaction of its own; a transient error while building the answer gives the
 * claimed runs back (QUEUED, the attempt not counted) before it is thrown. Either way nothing is
 * left claimed by a worker that never hears of it, but for a crash in between: its lease covers
 * that.
 */
async function claimAndDeliver(
  deps: Deps,
  environmentId: string,
  options: { workerId: string; tasks: string[]; max: number },
  trx: Kysely<Database>,
): Promise<{ claimed: ClaimedRun[]; reported: TransitionedRun[]; errors: ReportedFailure[] }> {
  const { db, config } = deps;
  const now = new Date();
  const runs = await claimRuns(trx, { ...options, environmentId, leaseMs: config.execution.leaseMs, now });
  let answer: Awaited<ReturnType<typeof deliverable>>;
  try {
    // The answer is built once the runs are claimed: a run that cannot be handed over is failed
    // instead of staying claimed by a worker that never hears of it.
    answer = await deliverable(trx, runs, config.execution.defaultMaxAttempts);
  } catch (err) {
    if (!trx.isTransaction && runs.length > 0) {
      const claims = runs.map((r) => ({ runId: r.id, claimId: r.claim_id ?? undefined }));
      await transaction(db, (own) => releaseClaims(own, environmentId, options.workerId, claims, new Date())).catch(
        () => {},
      );
    }
    throw err;
  }
  const { delivered, undeliverable } = answer;
  const refuse = (own: Transaction<Database>) =>
    recordReport(own, environmentId, options.workerId, { completed: [], failed: undeliverable }, config.execution, now);
  const refused =
    undeliverable.length === 0
      ? []
      : trx.isTransaction
        ? await refuse(trx as Transaction<Database>)
        : await transaction(db, refuse);
  return { claimed: delivered, reported: refused, errors: undeliverable };
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
  const started = performance.now();
  const answer = (runs: ClaimedRun[]) => {
    dequeueWait.observe({ outcome: runs.length > 0 ? "claimed" : "empty" }, (performance.now() - started) / 1000);
    return runs;
  };
  const { db, bus, config } = deps;
  const deadline = Date.now() + Math.min(input.waitMs, config.execution.dequeueMaxWaitMs);
  // The caller went away, or the server is shutting down: stop waiting and answer what there is.
  const stop = signal ? AbortSignal.any([signal, deps.closing]) : deps.closing;
  const claim = async (completed: Outcomes["completed"] = [], failed: Outcomes["failed"] = []) => {
    const report = workerReport(completed, failed);
    const claimStarted = performance.now();
    const claimOptions = { environmentId: env.id, workerId: input.workerId, tasks: input.tasks, max: input.max };
    // Alone (how `createWorker` dequeues: its outcomes travel in reports of their own), the claim
    // commits by itself, in one round trip; outcomes sent along (older workers) are recorded in
    // the claim's transaction, before it claims, so the slots they free can be claimed (and the
    // lock order holds: a claim takes queues last, docs/ARCHITECTURE.md).
    const { claimed, reported, errors } =
      report.completed.length + report.failed.length === 0
        ? await claimAndDeliver(deps, env.id, claimOptions, db)
        : await transaction(db, async (trx) => {
            const outcomes = await recordReport(trx, env.id, input.workerId, report, config.execution, new Date());
            const answer = await claimAndDeliver(deps, env.id, claimOptions, trx);
            return { ...answer, reported: [...outcomes, ...answer.reported], errors: [...failed, ...answer.errors] };
          });
    claimDuration.observe((performance.now() - claimStarted) / 1000);
    // Claims and outcomes wrote events: tell subscribers (and, harmlessly, idle workers).
    if (claimed.length > 0 || reported.length > 0) notifyEvents(bus, env.id);
    logFailures(deps, reported, errors);
    return claimed;
  };

  const first = await claim(input.completed, input.failed);
  if (first.length > 0 || deadline <= Date.now() || stop.aborted) return answer(first);

  let wake: (() => void) | undefined;
  let woken = false;
  // Redis unreachable: no wake-ups, the re-check every RECHECK_MS finds new work instead.
  const unsubscribe = await bus
    .subscribe(eventsChannel(env.id), () => {
      woken = true;
      wake?.();
    })
    .catch(() => async () => {});
  try {
    for (;;) {
      // Nothing is claimed for an answer that may never reach the worker (it would wait out the lease).
      if (stop.aborted) return answer([]);
      woken = false;
      // A worker that went away (stopped, or died) while waiting must not be handed runs.
      if (signal?.aborted) return answer([]);
      const claimed = await claim();
      if (signal?.aborted && claimed.length > 0) {
        await releaseRuns(deps, env, { workerId: input.workerId, runIds: claimed.map((r) => r.id) });
        return answer([]);
      }
      const left = deadline - Date.now();
      if (claimed.length > 0 || left <= 0 || stop.aborted) return answer(claimed);
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

/** A run a worker finished, naming the claim it finished it under (absent: an older worker). */
export interface ReportedCompletion {
  runId: string;
  claimId?: string;
  output?: unknown;
}

export interface Outcomes {
  workerId: string;
  completed: ReportedCompletion[];
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
  const report = workerReport(input.completed, input.failed);
  const changed = await transaction(deps.db, (trx) =>
    recordReport(trx, env.id, input.workerId, report, deps.config.execution, new Date()),
  );
  // Finished runs free slots of their queues (and may have queued a parent): idle workers
  // waiting on a full queue can claim again now rather than at their next re-check.
  if (changed.length > 0) notifyEvents(deps.bus, env.id);
  logFailures(deps, changed, input.failed);
  return {
    accepted: changed.map((r) => r.id),
    willRetry: changed.filter((r) => r.status === "REATTEMPTING").map((r) => r.id),
  };
}

/** The failure lines of the runs a committed report failed, with the errors the worker (or the server) gave. */
function logFailures(
  deps: Deps,
  changed: Parameters<typeof logRunFailures>[1],
  failures: readonly { runId: string; error: unknown }[],
): void {
  if (failures.length === 0) return;
  const errors = new Map(failures.map((f) => [f.runId, f.error as { name?: string; message?: string }]));
  logRunFailures(deps.log, changed, (runId) => errors.get(runId));
}

/** Outputs written as stored text before any transaction opens (`completeRuns` takes them so). */
function workerReport(completed: Outcomes["completed"], failed: Outcomes["failed"]): WorkerReport {
  return {
    completed: completed.map((c) => ({
      runId: c.runId,
      ...(c.claimId !== undefined ? { claimId: c.claimId } : {}),
      output: c.output === undefined ? null : superJsonText(c.output),
    })),
    failed,
  };
}

export async function completeRun(
  deps: Deps,
  env: AuthenticatedEnvironment,
  input: { workerId: string } & ReportedCompletion,
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
  const released = (await transaction(deps.db, (trx) => releaseClaims(trx, env.id, input.workerId, claims, new Date())))
    .length;
  if (released > 0) notifyEvents(deps.bus, env.id);
  return { released };
}
