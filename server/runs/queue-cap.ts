import { sql, type Transaction } from "kysely";
import type { Database } from "../../db/schema.js";
import { unprocessable } from "../errors.js";

export const QUEUE_SIZE_LIMIT_EXCEEDED = "QUEUE_SIZE_LIMIT_EXCEEDED";

export interface QueueCapOptions {
  /** Most QUEUED runs the environment may have; undefined: unlimited. */
  maxQueuedRuns?: number;
  /**
   * What happens to items over the cap: two-phase streams record them as batch item errors (the
   * batch ends PARTIAL_FAILED or ABORTED); one-shot requests are refused whole with a 422.
   */
  overQueueCap?: "item-errors" | "reject";
}

export const queueFullMessage = (task: string, max: number) =>
  `Cannot trigger ${task} as the queue size limit for this environment has been reached. The maximum size is ${max}`;

/**
 * Counts the environment's QUEUED runs under a per-environment transaction lock, so concurrent
 * requests cannot each see room for the same last slots. Only taken when a cap is configured:
 * without one, ingest stays lock-free across batches.
 */
async function roomLeft(trx: Transaction<Database>, environmentId: string, max: number): Promise<number> {
  await sql`select pg_advisory_xact_lock(hashtext(${`salvo:queue-cap:${environmentId}`}))`.execute(trx);
  const { n } = await trx
    .selectFrom("runs")
    .select(sql<number>`count(*)::int`.as("n"))
    .where("environment_id", "=", environmentId)
    .where("status", "=", "QUEUED")
    .executeTakeFirstOrThrow();
  return Math.max(0, max - n);
}

/**
 * The items that may become runs now, in order. The rest, when over the cap, are written as
 * batch item errors with code QUEUE_SIZE_LIMIT_EXCEEDED (or, for "reject", the call throws a
 * 422 and the caller's transaction writes nothing). Every admitted item is counted as a new queued
 * run, even one that will resolve to an existing run by idempotency key: the cap errs on the
 * safe side.
 */
export async function admitUnderQueueCap<T extends { index: number; task: string }>(
  trx: Transaction<Database>,
  batchId: string,
  environmentId: string,
  items: T[],
  { maxQueuedRuns, overQueueCap = "item-errors" }: QueueCapOptions,
): Promise<T[]> {
  if (maxQueuedRuns === undefined || items.length === 0) return items;
  const room = await roomLeft(trx, environmentId, maxQueuedRuns);
  if (room >= items.length) return items;
  if (overQueueCap === "reject") {
    throw unprocessable(
      `Queue size limit exceeded: this request would add ${items.length} runs to an environment with room for ${room} more ` +
        `(SALVO_MAX_QUEUED_RUNS is ${maxQueuedRuns}).`,
    );
  }
  const refused = items.slice(room).map((item) => ({
    batch_id: batchId,
    batch_index: item.index,
    task_identifier: item.task,
    run_id: null,
    error: queueFullMessage(item.task, maxQueuedRuns),
    error_code: QUEUE_SIZE_LIMIT_EXCEEDED,
  }));
  // 6 parameters a row: slices keep each statement under Postgres's 65,535.
  for (let start = 0; start < refused.length; start += 5000) {
    await trx
      .insertInto("batch_items")
      .values(refused.slice(start, start + 5000))
      .execute();
  }
  return items.slice(0, room);
}

/** A single run (task.trigger) over the cap: 422, nothing written. */
export async function assertQueueRoom(
  trx: Transaction<Database>,
  environmentId: string,
  task: string,
  maxQueuedRuns: number | undefined,
) {
  if (maxQueuedRuns === undefined) return;
  if ((await roomLeft(trx, environmentId, maxQueuedRuns)) < 1) {
    throw unprocessable(`${queueFullMessage(task, maxQueuedRuns)} (SALVO_MAX_QUEUED_RUNS).`);
  }
}
