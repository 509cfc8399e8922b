import { type Kysely, sql } from "kysely";

/**
 * Subscriptions read the `events` outbox in commit-safe order. A `bigserial` id alone is not: a
 * transaction can take id 7, commit after the one that took id 8, and a reader that already moved
 * past 8 would never see 7. So each event also records the id of the transaction that wrote it
 * (`xid8`, assigned at the transaction's first write), and readers only read events of
 * transactions older than every transaction still running that could write them (`HORIZON` in
 * server/events/read.ts). Ordered by
 * `(tx_id, id)`, what a reader has seen never grows a hole behind it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table events add column tx_id xid8 not null default pg_current_xact_id()`.execute(db);
  await sql`create index events_by_env_position on events (environment_id, tx_id, id)`.execute(db);
  await sql`create index events_by_batch_position on events (batch_id, tx_id, id) where batch_id is not null`.execute(
    db,
  );
  await sql`create index events_by_run_position on events (run_id, tx_id, id) where run_id is not null`.execute(db);
  // Retention deletes by age.
  await sql`create index events_by_created_at on events (created_at)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const index of [
    "events_by_created_at",
    "events_by_run_position",
    "events_by_batch_position",
    "events_by_env_position",
  ]) {
    await sql`drop index if exists ${sql.ref(index)}`.execute(db);
  }
  await sql`alter table events drop column tx_id`.execute(db);
}
