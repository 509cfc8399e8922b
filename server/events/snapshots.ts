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
import { unservedOfBatches } from "./unserved.js";

/**
 * A batch of at least this many runs has its runs counted by status at most once per
 * `RECOUNT_MS` until it is final: counting is a scan of its runs (about 245 ms at 100,000 on this
 * machine), and while such a batch executes, every page of events the feed reads, and every new
 * subscriber's snapshot, would count it again. Its batch row (status, counters) is still read
 * every time, and a final batch is always counted afresh, so its last message is exact.
 */
export const LARGE_BATCH_RUNS = 10_000;
export const RECOUNT_MS = 1_000;

type RunCounts = BatchProgress["runs"];
/** The last counts of large batches in this process, by batch id. */
const recentCounts = new Map<string, { at: number; runs: RunCounts }>();

/**
 * Current state of batches and runs, read after the events they accompany. One query per kind for
 * a whole page of events, however many subscribers will receive them (and one more, for batches
 * with queued runs, naming tasks no worker serves when `unservedAfterMs` is given).
 */
export async function readBatchProgress(
  db: Kysely<Database>,
  environmentId: string,
  batchIds: string[],
  options: { unservedAfterMs?: number; now?: number } = {},
): Promise<Map<string, BatchProgress>> {
  const { unservedAfterMs, now = Date.now() } = options;
  const result = new Map<string, BatchProgress>();
  if (batchIds.length === 0) return result;
  const rows = await db
    .selectFrom("batches")
    .selectAll()
    .where("environment_id", "=", environmentId)
    .where("id", "in", batchIds)
    .execute();
  if (rows.length === 0) return result;
  forgetStaleCounts(now);
  const isFinal = (row: { status: string }) => FINAL_BATCH_STATUSES.includes(row.status as BatchStatus);
  const recent = (row: (typeof rows)[number]) => {
    if (row.run_count < LARGE_BATCH_RUNS || isFinal(row)) return undefined;
    const last = recentCounts.get(row.id);
    return last && now - last.at < RECOUNT_MS ? last.runs : undefined;
  };
  const toCount = rows.filter((row) => !recent(row)).map((row) => row.id);
  // Through batch_items: an item may resolve to an existing run of another batch (idempotency).
  const counts =
    toCount.length === 0
      ? []
      : await db
          .selectFrom("batch_items as i")
          .innerJoin("runs as r", "r.id", "i.run_id")
          .select(["i.batch_id", "r.status", sql<number>`count(*)::int`.as("n")])
          .where("i.batch_id", "in", toCount)
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
      runs: recent(row) ?? { total: 0, finished: 0, failed: 0, byStatus: {} },
      final: isFinal(row),
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
  for (const row of rows) {
    if (row.run_count < LARGE_BATCH_RUNS) continue;
    if (isFinal(row)) recentCounts.delete(row.id);
    else if (toCount.includes(row.id)) recentCounts.set(row.id, { at: now, runs: result.get(row.id)!.runs });
  }
  const queued = [...result.values()].filter((b) => (b.runs.byStatus.QUEUED ?? 0) > 0).map((b) => b.id);
  if (unservedAfterMs !== undefined && queued.length > 0) {
    for (const [batchId, unserved] of await unservedOfBatches(db, environmentId, queued, unservedAfterMs))
      result.get(batchId)!.unserved = unserved;
  }
  return result;
}

/** Drops counts too old to be used again, so batches nobody watches any more leave the map. */
function forgetStaleCounts(now: number): void {
  for (const [id, last] of recentCounts) if (now - last.at >= RECOUNT_MS) recentCounts.delete(id);
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
