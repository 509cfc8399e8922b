import { sql, type Transaction } from "kysely";
import type { IndexedItem } from "../../shared/schemas.js";
import type { BatchRow, Database } from "../../db/schema.js";
import { bulkRows } from "../../db/bulk-rows.js";
import { createRuns, planRuns, type RunPlan } from "../runs/create.js";
import { assertStoredPacketsExist } from "../runs/packets.js";
import { prepareRun, type RunContext } from "../runs/prepare.js";
import { admitUnderQueueCap, type QueueCapOptions } from "../limits/queue-cap.js";

const LEDGER_COLUMNS = [
  ["batch_id", "text"],
  ["batch_index", "integer"],
  ["task_identifier", "text"],
  ["run_id", "text"],
  ["cached", "boolean"],
] as const;

/** The batch fields that decide what its items become; none of them changes after creation. */
export type IngestBatch = Pick<BatchRow, "id" | "environment_id" | "parent_run_id" | "resume_parent_on_completion">;

/**
 * Items of one chunk turned into runs without touching the database: a chunk's CPU work, done
 * before its transaction so it overlaps the database's work on the chunk before.
 */
export interface IngestPlan {
  /** One item per index, the first given for it, in the order given. */
  items: IndexedItem[];
  /** Items dropped because an earlier item of the chunk had their index. */
  deduplicated: number;
  /** The run each item becomes (same order as `items`). */
  runs: RunPlan;
  /** The time the runs are created at. */
  now: Date;
}

export interface IngestResult {
  accepted: number;
  deduplicated: number;
  /** Run id per accepted item, in the order the items were given. */
  runIds: string[];
}

function runContext(batch: IngestBatch, now: Date): RunContext {
  return {
    environmentId: batch.environment_id,
    now,
    batchId: batch.id,
    parentRunId: batch.parent_run_id ?? undefined,
    resumeParentOnCompletion: batch.resume_parent_on_completion,
    triggerFunction: batch.resume_parent_on_completion ? "batchTriggerAndWait" : "batchTrigger",
  };
}

export function planIngest(batch: IngestBatch, given: IndexedItem[], now: Date): IngestPlan {
  const seen = new Set<number>();
  const items: IndexedItem[] = [];
  for (const item of given) {
    if (seen.has(item.index)) continue;
    seen.add(item.index);
    items.push(item);
  }
  const ctx = runContext(batch, now);
  return { items, deduplicated: given.length - items.length, runs: planRuns(items.map((item) => prepareRun(item, ctx, item.index))), now };
}

/** The plan for a subset of its items (rare: indexes already present, or over the queue cap). */
function narrowPlan(plan: IngestPlan, keep: IndexedItem[]): IngestPlan {
  if (keep.length === plan.items.length) return plan;
  const position = new Map(plan.items.map((item, i) => [item, i]));
  return { ...plan, items: keep, runs: planRuns(keep.map((item) => plan.runs.prepared[position.get(item)!]!)) };
}

/**
 * Writes a planned chunk of a batch, one run per index: an index already present (from an earlier
 * chunk or a retried stream) is counted as deduplicated and its content ignored, so the first
 * content for an index wins. The caller holds the batch row lock, which is what makes the
 * presence check and the inserts one atomic step.
 */
export async function ingestItems(
  trx: Transaction<Database>,
  batch: BatchRow,
  planned: IngestPlan,
  limits: QueueCapOptions = {},
): Promise<IngestResult> {
  await assertStoredPacketsExist(trx, batch.environment_id, planned.items);
  let plan = planned;
  if (plan.items.length > 0 && batch.enqueued_count > 0) {
    // A range scan of the primary key, not one probe per index: a stream sends indexes in
    // order, so a new chunk's range is usually empty and this reads nothing.
    let low = Infinity;
    let high = -Infinity;
    for (const { index } of plan.items) {
      if (index < low) low = index;
      if (index > high) high = index;
    }
    const { rows: present } = await sql<{ batch_index: number }>`
      select batch_index from batch_items
      where batch_id = ${batch.id} and batch_index between ${low} and ${high}`.execute(trx);
    if (present.length > 0) {
      const taken = new Set(present.map((p) => p.batch_index));
      const fresh = plan.items.filter((item) => !taken.has(item.index));
      plan = { ...narrowPlan(plan, fresh), deduplicated: plan.deduplicated + plan.items.length - fresh.length };
    }
  }
  if (plan.items.length === 0) return { accepted: 0, deduplicated: plan.deduplicated, runIds: [] };
  // Items over the environment's queued-runs cap become item errors (written there) or a 422.
  const admitted = await admitUnderQueueCap(trx, batch.id, batch.environment_id, plan.items, limits);
  // Refused items count as enqueued: their item errors are in the ledger now.
  const accepted = plan.items.length;
  plan = narrowPlan(plan, admitted);

  const outcomes = await createRuns(trx, plan.runs);
  if (outcomes.length > 0) {
    // One statement for the whole chunk, as runs are written.
    const rows = plan.items.map((item, i) => ({
      batch_id: batch.id,
      batch_index: item.index,
      task_identifier: item.task,
      run_id: outcomes[i]!.runId,
      cached: outcomes[i]!.isCached,
    }));
    await sql`insert into batch_items (batch_id, batch_index, task_identifier, run_id, cached) ${bulkRows(LEDGER_COLUMNS, rows)}`.execute(trx);
  }
  const alreadyFinished = outcomes.filter((o) => o.isFinal).length;
  const now = plan.now;
  await trx
    .updateTable("batches")
    .set((eb) => ({
      enqueued_count: eb("enqueued_count", "+", accepted),
      finished_item_count: eb("finished_item_count", "+", alreadyFinished),
      updated_at: now,
    }))
    .where("id", "=", batch.id)
    .execute();
  return { accepted, deduplicated: plan.deduplicated, runIds: outcomes.map((o) => o.runId) };
}
