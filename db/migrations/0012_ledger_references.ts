import { type Kysely, sql } from "kysely";

/**
 * Batch items learn whether their run is their own: `cached` is true when the item resolved to a
 * run that is not the run its batch created at its index (an idempotency-key hit on an existing
 * run, or a repeat of a key earlier in the same batch).
 *
 * Why: a finishing run used to be counted towards its batches by looking its id up in an index on
 * `batch_items.run_id`, which every item paid for on the way in (an index entry per item written).
 * A run's own batch is on the run (`runs.batch_id`);
 * only the rare references need the look-up, so the index now covers just them.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table batch_items add column cached boolean not null default false`.execute(db);
  await sql`
    update batch_items i set cached = true
    from runs r
    where r.id = i.run_id and (r.batch_id is distinct from i.batch_id or r.batch_index is distinct from i.batch_index)`.execute(
    db,
  );
  await sql`drop index if exists batch_items_run`.execute(db);
  await sql`create index batch_items_cached_run on batch_items (run_id) where cached`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists batch_items_cached_run`.execute(db);
  await sql`create index batch_items_run on batch_items (run_id) where run_id is not null`.execute(db);
  await sql`alter table batch_items drop column cached`.execute(db);
}
