import { type Kysely, sql } from "kysely";
import type { Database } from "../../db/schema.js";
import {
  type BatchProgress,
  type BatchStatus,
  FINAL_BATCH_STATUSES,
  FINAL_RUN_STATUSES,
  type RunState,
  type RunStatus,
} from "../../shared/index.js";
import { unservedOfBatches } from "../queue/unserved.js";

/**
 * Current state of batches and runs, read after the events they accompany. One query per kind for
 * a whole page of events, however many subscribers will receive them (and one more, for batches
 * with queued runs, naming tasks no worker serves when `unservedAfterMs` is given).
 */
export async function readBatchProgress(
  db: Kysely<Database>,
  environmentId: string,
  batchIds: string[],
  unservedAfterMs?: number,
): Promise<Map<string, BatchProgress>> {
  const result = new Map<string, BatchProgress>();
  if (batchIds.length === 0) return result;
  const rows = await db
    .selectFrom("batches")
    .selectAll()
    .where("environment_id", "=", environmentId)
    .where("id", "in", batchIds)
    .execute();
  if (rows.length === 0) return result;
  // Through batch_items: an item may resolve to an existing run of another batch (idempotency).
  const counts = await db
    .selectFrom("batch_items as i")
    .innerJoin("runs as r", "r.id", "i.run_id")
    .select(["i.batch_id", "r.status", sql<number>`count(*)::int`.as("n")])
    .where(
      "i.batch_id",
      "in",
      rows.map((r) => r.id),
    )
    .groupBy(["i.batch_id", "r.status"])
    .execute();
  for (const row of rows) {
    result.set(row.id, {
      id: row.id,
      status: row.status as BatchStatus,
      sealed: row.sealed,
      runCount: row.run_count,
      enqueuedCount: row.enqueued_count,
      ...(row.successful_run_count !== null ? { successfulRunCount: row.successful_run_count } : {}),
      ...(row.failed_run_count !== null ? { failedRunCount: row.failed_run_count } : {}),
      runs: { total: 0, finished: 0, failed: 0, byStatus: {} },
      final: FINAL_BATCH_STATUSES.includes(row.status as BatchStatus),
      updatedAt: row.updated_at,
    });
  }
  for (const c of counts) {
    const runs = result.get(c.batch_id)!.runs;
    const status = c.status as RunStatus;
    runs.byStatus[status] = c.n;
    runs.total += c.n;
    if (FINAL_RUN_STATUSES.includes(status)) {
      runs.finished += c.n;
      if (status !== "COMPLETED") runs.failed += c.n;
    }
  }
  const queued = [...result.values()].filter((b) => (b.runs.byStatus.QUEUED ?? 0) > 0).map((b) => b.id);
  if (unservedAfterMs !== undefined && queued.length > 0) {
    for (const [batchId, unserved] of await unservedOfBatches(db, environmentId, queued, unservedAfterMs))
      result.get(batchId)!.unserved = unserved;
  }
  return result;
}

export async function readRunStates(
  db: Kysely<Database>,
  environmentId: string,
  runIds: string[],
): Promise<Map<string, RunState>> {
  const result = new Map<string, RunState>();
  if (runIds.length === 0) return result;
  const rows = await db
    .selectFrom("runs")
    .select(["id", "status", "task_identifier", "attempt", "tags", "batch_id", "batch_index", "updated_at"])
    .where("environment_id", "=", environmentId)
    .where("id", "in", runIds)
    .execute();
  for (const r of rows) {
    result.set(r.id, {
      id: r.id,
      status: r.status as RunStatus,
      taskIdentifier: r.task_identifier,
      attempt: r.attempt,
      tags: r.tags,
      ...(r.batch_id !== null ? { batchId: r.batch_id } : {}),
      ...(r.batch_index !== null ? { batchIndex: r.batch_index } : {}),
      final: FINAL_RUN_STATUSES.includes(r.status as RunStatus),
      updatedAt: r.updated_at,
    });
  }
  return result;
}
