import { type Kysely, sql } from "kysely";

/**
 * Drops the foreign keys that are checked once per row on the bulk write path: runs.batch_id,
 * batch_items.batch_id and batch_items.run_id. Each check locks the referenced row (FOR KEY
 * SHARE), which writes to it: a query and a lock per inserted row, a large part of the cost of
 * inserting a batch's runs and items.
 *
 * What they guaranteed still holds by construction: batch items and the runs of a batch are
 * only written by `ingestItems`, in the transaction that created or row-locked the batch, with
 * run ids it has just inserted or read; nothing deletes batches or runs. (`runs.environment_id`
 * kept its foreign key here; 0011_run_environment_fk drops it too.)
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table runs drop constraint if exists runs_batch_id_fkey`.execute(db);
  await sql`alter table batch_items drop constraint if exists batch_items_batch_id_fkey`.execute(db);
  await sql`alter table batch_items drop constraint if exists batch_items_run_id_fkey`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table runs add constraint runs_batch_id_fkey foreign key (batch_id) references batches (id)`.execute(
    db,
  );
  await sql`alter table batch_items add constraint batch_items_batch_id_fkey foreign key (batch_id) references batches (id)`.execute(
    db,
  );
  await sql`alter table batch_items add constraint batch_items_run_id_fkey foreign key (run_id) references runs (id)`.execute(
    db,
  );
}
