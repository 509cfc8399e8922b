import { type Kysely, sql } from "kysely";

/**
 * Every event read goes by `(scope, tx_id, id)` (0003_events), so the first indexes by
 * `(batch_id, id)` and `(run_id, id)` serve no query, yet every event written (two per executed
 * run: EXECUTING and its outcome) paid for both.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists events_by_batch`.execute(db);
  await sql`drop index if exists events_by_run`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`create index if not exists events_by_batch on events (batch_id, id) where batch_id is not null`.execute(db);
  await sql`create index if not exists events_by_run on events (run_id, id) where run_id is not null`.execute(db);
}
