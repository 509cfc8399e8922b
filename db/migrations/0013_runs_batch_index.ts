import { type Kysely, sql } from "kysely";

/**
 * Drops the unique index of runs on `(batch_id, batch_index)`. The ledger's primary key
 * (`batch_items (batch_id, batch_index)`) already makes an index of a batch resolve to one item,
 * written in the same transaction as the run, and the ledger is what reads a batch's runs
 * (`server/batches/own-runs.ts`), so every run paid for a second index that nothing needed
 * (one btree insert of five per run on the bulk path).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table runs drop constraint if exists runs_batch_index`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table runs add constraint runs_batch_index unique (batch_id, batch_index)`.execute(db);
}
