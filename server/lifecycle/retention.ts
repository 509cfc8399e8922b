import { type Kysely, sql, type Transaction } from "kysely";
import type { Database } from "../../db/schema.js";
import { transaction } from "../../db/transaction.js";
import { FINAL_BATCH_STATUSES } from "../../shared/live.js";
import { FINAL_RUN_STATUSES } from "../../shared/schemas.js";

/**
 * Where finished runs and final batches end: deleted once they are older than the retention
 * (`SALVO_RUN_RETENTION`), with their ledger items, events and packets.
 *
 * Every step is its own small transaction (at most `LIMITS.batches` batch rows, `LIMITS.runs` run
 * rows or `LIMITS.slice` items or events), picks its rows `FOR UPDATE SKIP LOCKED` and never
 * waits for a row lock another transaction holds, so any number of servers can run it at once,
 * and nothing else waits on it for long.
 *
 * What is kept, whatever its age:
 * - a batch that is not final, or whose runs are not all final (`finished_item_count` counts the
 *   items whose run is final: an ABORTED batch's runs go on), or whose parent run is not final
 *   (it waits on the batch, or was queued again and will read the batch's results);
 * - a run that a ledger item still names: its own batch's item (`runs.batch_id`, `batch_index`)
 *   or another batch's item that resolved to it through an idempotency key (`cached`). So a batch
 *   that is kept reads all of its runs, and a run is deleted only after every batch naming it;
 * - a run that is not final (a parent waiting on a batch is WAITING, so it is kept too).
 *
 * Oldest first within each environment, by creation time (the listing indexes
 * `batches_listing` and `runs_listing` give that order; their time is bounded by the cutoff,
 * since nothing finished before it was created).
 */

export const LIMITS = {
  /** Batch rows deleted per transaction (their items and events follow in slices). */
  batches: 100,
  /** Run rows deleted per transaction, with their events and packets. */
  runs: 500,
  /** Ledger items or events of one deleted batch deleted per transaction. */
  slice: 5_000,
  /** A pass stops after this long (the next one goes on), so a backlog never holds up shutdown. */
  passMs: 2_000,
};

export interface RetentionCounts {
  batches: number;
  runs: number;
  items: number;
  events: number;
  packets: number;
}

const STORE_TYPE = "application/store";
const finalBatch = sql.join(FINAL_BATCH_STATUSES.map((s) => sql.lit(s)));
const finalRun = sql.join(FINAL_RUN_STATUSES.map((s) => sql.lit(s)));

/** A position in an environment's creation order; the time as Postgres text keeps its microseconds. */
interface Position {
  createdAt: string;
  id: string;
}
const after = (table: "b" | "r", position: Position | undefined) =>
  position
    ? sql`and (${sql.ref(`${table}.created_at`)}, ${sql.ref(`${table}.id`)}) > (${position.createdAt}::timestamptz, ${position.id})`
    : sql``;

/**
 * One pass: deletes what is older than `cutoff`, in every environment, until nothing is left,
 * the pass has taken `LIMITS.passMs` or `signal` aborts (the server is shutting down). Returns
 * what it deleted.
 */
export async function deleteExpired(
  db: Kysely<Database>,
  cutoff: Date,
  options: { limits?: typeof LIMITS; signal?: AbortSignal } = {},
): Promise<RetentionCounts> {
  const { limits = LIMITS, signal } = options;
  const counts: RetentionCounts = { batches: 0, runs: 0, items: 0, events: 0, packets: 0 };
  const deadline = Date.now() + limits.passMs;
  const inTime = () => Date.now() < deadline && !signal?.aborted;
  const environments = (await db.selectFrom("environments").select("id").execute()).map((e) => e.id);
  // Servers running a pass at once start on different environments, and no environment is
  // always last when passes run out of time.
  const start = Math.floor(Math.random() * environments.length);
  const order = [...environments.slice(start), ...environments.slice(0, start)];

  for (const env of order) {
    let position: Position | undefined;
    while (inTime()) {
      const picked = await transaction(db, (trx) => retireBatches(trx, env, cutoff, position, limits.batches));
      counts.batches += picked.length;
      if (picked.length < limits.batches) break;
      position = picked.at(-1);
    }
  }
  while (inTime()) {
    const slice = await transaction(db, (trx) => deleteBatchContents(trx, limits.slice));
    if (!slice) break;
    counts.items += slice.items;
    counts.events += slice.events;
  }
  for (const env of order) {
    let position: Position | undefined;
    while (inTime()) {
      const chunk = await transaction(db, (trx) => deleteRuns(trx, env, cutoff, position, limits.runs));
      counts.runs += chunk.runs;
      counts.events += chunk.events;
      counts.packets += chunk.packets;
      if (chunk.picked.length < limits.runs) break;
      position = chunk.picked.at(-1);
    }
  }
  return counts;
}

/**
 * Deletes up to `limit` batch rows that may go, and queues their ledger items and events for
 * `deleteBatchContents`. From this commit on, the batch answers 404 like an unknown id.
 */
async function retireBatches(
  trx: Transaction<Database>,
  environmentId: string,
  cutoff: Date,
  position: Position | undefined,
  limit: number,
): Promise<Position[]> {
  const { rows } = await sql<Position>`
    with picked as materialized (
      select b.id, b.created_at from batches b
      where b.environment_id = ${environmentId}
        and b.created_at < ${cutoff}
        ${after("b", position)}
        and b.status in (${finalBatch})
        and b.updated_at < ${cutoff}
        and b.finished_item_count >= coalesce(b.successful_run_count, 0)
        and not exists (
          select 1 from runs p
          where p.id = b.parent_run_id and p.environment_id = b.environment_id and p.status not in (${finalRun})
        )
      order by b.created_at, b.id
      limit ${limit}
      for update of b skip locked
    ),
    queued as (
      insert into batch_deletions (batch_id, environment_id) select id, ${environmentId} from picked
    ),
    gone as (
      delete from batches where id in (select id from picked)
    )
    select id, created_at::text as "createdAt" from picked order by created_at, id`.execute(trx);
  return rows;
}

/**
 * One slice of a deleted batch's ledger items and events; the batch leaves `batch_deletions`
 * with its last slice. Returns undefined when no deleted batch is left to empty.
 */
async function deleteBatchContents(
  trx: Transaction<Database>,
  slice: number,
): Promise<{ items: number; events: number } | undefined> {
  const job = await trx
    .selectFrom("batch_deletions")
    .select(["batch_id", "environment_id"])
    .orderBy("queued_at")
    .limit(1)
    .forUpdate()
    .skipLocked()
    .executeTakeFirst();
  if (!job) return undefined;
  const items = await sql`
    delete from batch_items where batch_id = ${job.batch_id} and batch_index in (
      select batch_index from batch_items where batch_id = ${job.batch_id} order by batch_index limit ${slice}
    )`.execute(trx);
  const events = await sql`
    delete from events where id in (
      select id from events where batch_id = ${job.batch_id} and environment_id = ${job.environment_id} limit ${slice}
    )`.execute(trx);
  const counts = { items: Number(items.numAffectedRows ?? 0), events: Number(events.numAffectedRows ?? 0) };
  if (counts.items < slice && counts.events < slice) {
    await trx.deleteFrom("batch_deletions").where("batch_id", "=", job.batch_id).execute();
  }
  return counts;
}

/** A run that a ledger item names: its own batch's, or another batch's through an idempotency key. */
const named = sql`(
  exists (select 1 from batch_items i where i.batch_id = r.batch_id and i.batch_index = r.batch_index)
  or exists (select 1 from batch_items i where i.cached and i.run_id = r.id)
)`;

/**
 * Deletes up to `limit` final runs that finished before `cutoff` and no ledger item names, with
 * their events and the packets no remaining run names.
 */
async function deleteRuns(
  trx: Transaction<Database>,
  environmentId: string,
  cutoff: Date,
  position: Position | undefined,
  limit: number,
): Promise<{ picked: Position[]; runs: number; events: number; packets: number }> {
  const { rows: picked } = await sql<Position>`
    select r.id, r.created_at::text as "createdAt" from runs r
    where r.environment_id = ${environmentId}
      and r.created_at < ${cutoff}
      ${after("r", position)}
      and r.status in (${finalRun})
      and coalesce(r.finished_at, r.updated_at) < ${cutoff}
      and not ${named}
    order by r.created_at, r.id
    limit ${limit}
    for update of r skip locked`.execute(trx);
  if (picked.length === 0) return { picked, runs: 0, events: 0, packets: 0 };
  // Checked again now that the rows are locked: an item resolving to one of these runs through an
  // idempotency key locks the run first (server/runs/create.ts), so one committed between the
  // check above and the lock is seen by this statement's later snapshot, and none can follow.
  const { rows: deleted } = await sql<{
    id: string;
    payload: string | null;
    payload_type: string;
    output: string | null;
    output_type: string | null;
  }>`
    delete from runs r
    where r.id in (${sql.join(picked.map((p) => p.id))}) and not ${named}
    returning r.id, r.payload, r.payload_type, r.output, r.output_type`.execute(trx);
  if (deleted.length === 0) return { picked, runs: 0, events: 0, packets: 0 };
  const ids = deleted.map((r) => r.id);
  const events = await trx
    .deleteFrom("events")
    .where("run_id", "in", ids)
    .where("environment_id", "=", environmentId)
    .executeTakeFirst();
  const paths = [
    ...new Set(
      deleted.flatMap((r) => [
        ...(r.payload_type === STORE_TYPE && r.payload !== null ? [r.payload] : []),
        ...(r.output_type === STORE_TYPE && r.output !== null ? [r.output] : []),
      ]),
    ),
  ];
  let packets = 0;
  if (paths.length > 0) {
    // A replayed run shares its original's offloaded payload: the packet goes with the last run naming it.
    const result = await sql`
      delete from packets p
      where p.environment_id = ${environmentId}
        and p.path in (${sql.join(paths)})
        and not exists (
          select 1 from runs r
          where r.environment_id = ${environmentId} and r.payload_type = ${STORE_TYPE} and r.payload = p.path
        )`.execute(trx);
    packets = Number(result.numAffectedRows ?? 0);
  }
  return { picked, runs: deleted.length, events: Number(events.numDeletedRows), packets };
}
