import { type RawBuilder, sql, type Transaction } from "kysely";
import { bulkRows } from "../../db/bulk-rows.js";
import type { BatchRow, Database } from "../../db/schema.js";
import type { IndexedItem } from "../../shared/schemas.js";
import { nextTurn } from "../next-turn.js";
import { assertStoredPacketsExist } from "../packets/codec.js";
import { createRuns, planRuns, type RunPlan } from "../runs/create.js";
import { type PreparedRun, prepareRun, type RunContext } from "../runs/prepare.js";
import { admitUnderQueueCap, type QueueCapOptions } from "../runs/queue-cap.js";
import { testHooks } from "../test-hooks.js";

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
  /** The ledger rows when every item gets the run planned for it (the usual case); absent once narrowed. */
  ledger?: RawBuilder<unknown>;
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

/** Items turned into rows between two turns of the event loop while planning. */
const PLAN_SLICE = 250;

/**
 * Plans a chunk a slice at a time, giving the event loop a turn between slices: the chunk before
 * it is usually being written at the same moment, and each of its round trips to the database
 * would otherwise wait for the whole plan.
 */
export async function planIngest(batch: IngestBatch, given: IndexedItem[], now: Date): Promise<IngestPlan> {
  const seen = new Set<number>();
  const items: IndexedItem[] = [];
  for (const item of given) {
    if (seen.has(item.index)) continue;
    seen.add(item.index);
    items.push(item);
  }
  const ctx = runContext(batch, now);
  const prepared: PreparedRun[] = [];
  for (let start = 0; start < items.length; start += PLAN_SLICE) {
    if (start > 0) await nextTurn();
    for (const item of items.slice(start, start + PLAN_SLICE)) prepared.push(prepareRun(item, ctx, item.index));
  }
  await nextTurn();
  const ownRuns = prepared.map((p) => ({ runId: p.row.id, isCached: false }));
  return {
    items,
    deduplicated: given.length - items.length,
    runs: planRuns(prepared),
    ledger: items.length === 0 ? undefined : ledgerRows(batch.id, items, ownRuns),
    now,
  };
}

/** Ledger rows for `items`, each pointing at the run beside it (`cached`: one it did not create). */
function ledgerRows(batchId: string, items: IndexedItem[], runs: { runId: string; isCached: boolean }[]) {
  const rows = items.map((item, i) => ({
    batch_id: batchId,
    batch_index: item.index,
    task_identifier: item.task,
    run_id: runs[i]!.runId,
    cached: runs[i]!.isCached,
  }));
  return bulkRows(LEDGER_COLUMNS, rows);
}

/** The plan for a subset of its items (rare: indexes already present, or over the queue cap). */
function narrowPlan(plan: IngestPlan, keep: IndexedItem[]): IngestPlan {
  if (keep.length === plan.items.length) return plan;
  const position = new Map(plan.items.map((item, i) => [item, i]));
  return {
    ...plan,
    items: keep,
    runs: planRuns(keep.map((item) => plan.runs.prepared[position.get(item)!]!)),
    ledger: undefined,
  };
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
  if (testHooks.afterRunsCreated) await testHooks.afterRunsCreated(batch.id, trx);
  const alreadyFinished = outcomes.filter((o) => o.isFinal).length;
  // Usually every item got the run planned for it, and the ledger rows built with the plan hold.
  const asPlanned =
    plan.ledger !== undefined && outcomes.every((o, i) => !o.isCached && o.runId === plan.runs.prepared[i]!.row.id);
  const ledger =
    outcomes.length === 0 ? undefined : asPlanned ? plan.ledger : ledgerRows(batch.id, plan.items, outcomes);
  // The ledger and the batch's counters in one statement.
  await sql`
    ${ledger ? sql`with ledger as (insert into batch_items (batch_id, batch_index, task_identifier, run_id, cached) ${ledger})` : sql``}
    update batches
    set enqueued_count = enqueued_count + ${accepted}, finished_item_count = finished_item_count + ${alreadyFinished}, updated_at = ${plan.now}
    where id = ${batch.id}`.execute(trx);
  return { accepted, deduplicated: plan.deduplicated, runIds: outcomes.map((o) => o.runId) };
}
