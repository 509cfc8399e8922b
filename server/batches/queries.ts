import type { Kysely } from "kysely";
import type { z } from "zod";
import type { BatchRow, Database } from "../../db/schema.js";
import type {
  Batch,
  BatchStatus,
  BatchSummary,
  BatchSummaryResult,
  ListBatchesInputSchema,
} from "../../shared/schemas.js";
import type { AuthenticatedEnvironment } from "../auth/authenticate.js";
import type { Deps } from "../deps.js";
import { notFound } from "../errors.js";
import { afterCursor, decodeCursor, encodeCursor } from "../pagination.js";

function summarize(row: BatchRow): BatchSummary {
  return {
    id: row.id,
    status: row.status as BatchStatus,
    ...(row.idempotency_key !== null ? { idempotencyKey: row.idempotency_key } : {}),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    runCount: row.run_count,
    sealed: row.sealed,
    ...(row.successful_run_count !== null ? { successfulRunCount: row.successful_run_count } : {}),
    ...(row.failed_run_count !== null ? { failedRunCount: row.failed_run_count } : {}),
    ...(row.processing_completed_at !== null ? { processingCompletedAt: row.processing_completed_at } : {}),
    ...(row.completed_at !== null ? { completedAt: row.completed_at } : {}),
    ...(row.parent_run_id !== null ? { parentRunId: row.parent_run_id } : {}),
    resumeParentOnCompletion: row.resume_parent_on_completion,
    finishedItemCount: row.finished_item_count,
  };
}

/**
 * Refuses a batch id the caller's environment does not have, with the same 404 as an unknown id
 * (another environment's batch must not be told apart from a missing one).
 */
export async function assertBatchOfEnvironment(
  db: Kysely<Database>,
  environment: AuthenticatedEnvironment,
  batchId: string,
): Promise<void> {
  const batch = await db
    .selectFrom("batches")
    .select("id")
    .where("id", "=", batchId)
    .where("environment_id", "=", environment.id)
    .executeTakeFirst();
  if (!batch) throw notFound(`Batch ${batchId} not found`);
}

async function readBatchRow({ db }: Deps, environment: AuthenticatedEnvironment, batchId: string): Promise<BatchRow> {
  const row = await db
    .selectFrom("batches")
    .selectAll()
    .where("id", "=", batchId)
    .where("environment_id", "=", environment.id)
    .executeTakeFirst();
  if (!row) throw notFound(`Batch ${batchId} not found`);
  return row;
}

type ItemErrorRow = { batch_index: number; task_identifier: string; error: string | null; error_code: string | null };
const itemError = (item: ItemErrorRow): Batch["errors"][number] => ({
  index: item.batch_index,
  taskIdentifier: item.task_identifier,
  error: item.error ?? "Unknown error",
  ...(item.error_code !== null ? { errorCode: item.error_code } : {}),
});

/** A batch of the caller's environment, with its run ids and item errors in index order. */
export async function getBatch(deps: Deps, environment: AuthenticatedEnvironment, batchId: string): Promise<Batch> {
  const row = await readBatchRow(deps, environment, batchId);
  const items = await deps.db
    .selectFrom("batch_items")
    .select(["batch_index", "task_identifier", "run_id", "error", "error_code"])
    .where("batch_id", "=", batchId)
    .orderBy("batch_index")
    .execute();
  const runs: string[] = [];
  const errors: Batch["errors"] = [];
  for (const item of items) {
    if (item.run_id !== null) runs.push(item.run_id);
    else errors.push(itemError(item));
  }
  return { ...summarize(row), runs, errors };
}

/**
 * A batch of the caller's environment without its run ids, with its first `errorLimit` item errors
 * and their count: what a page about one batch reads, whatever the batch's size (its runs are
 * listed a page at a time by `run.list`).
 */
export async function getBatchSummary(
  deps: Deps,
  environment: AuthenticatedEnvironment,
  input: { batchId: string; errorLimit: number },
): Promise<BatchSummaryResult> {
  const row = await readBatchRow(deps, environment, input.batchId);
  const failed = deps.db.selectFrom("batch_items").where("batch_id", "=", input.batchId).where("run_id", "is", null);
  const [errors, count] = await Promise.all([
    input.errorLimit === 0
      ? []
      : failed
          .select(["batch_index", "task_identifier", "error", "error_code"])
          .orderBy("batch_index")
          .limit(input.errorLimit)
          .execute(),
    failed.select((eb) => eb.fn.countAll<number>().as("n")).executeTakeFirstOrThrow(),
  ]);
  return { ...summarize(row), errors: errors.map(itemError), errorCount: Number(count.n) };
}

export async function listBatches(
  { db }: Deps,
  environment: AuthenticatedEnvironment,
  input: z.output<typeof ListBatchesInputSchema>,
): Promise<{ items: BatchSummary[]; nextCursor?: string }> {
  let query = db.selectFrom("batches").selectAll().where("environment_id", "=", environment.id);
  if (input.status) query = query.where("status", "=", input.status);
  if (input.cursor) {
    const c = decodeCursor(input.cursor);
    query = query.where(afterCursor("batches", environment.id, c));
  }
  const rows = await query
    .orderBy("created_at", "desc")
    .orderBy("id", "desc")
    .limit(input.limit + 1)
    .execute();
  const page = rows.slice(0, input.limit);
  const last = page.at(-1);
  return {
    items: page.map(summarize),
    ...(rows.length > input.limit && last
      ? { nextCursor: encodeCursor({ createdAt: last.created_at, id: last.id }) }
      : {}),
  };
}
