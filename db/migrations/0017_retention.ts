import { type Kysely, sql } from "kysely";

/**
 * Retention (server/lifecycle/retention.ts) deletes old finished runs and batches.
 *
 * `batch_deletions`: a batch is deleted in two steps. Its row goes first, in a small transaction
 * (from then on it answers 404), and its id is written here in the same transaction; its ledger
 * items and events (up to 100,000 items each, and their events) are then deleted in slices of a
 * few thousand, each its own transaction, and the id leaves this table with the last slice. A
 * server killed half-way leaves the id here, so any server picks the rest up later.
 *
 * `runs_stored_payload`: replaying a run shares its offloaded payload (a packet, referenced by
 * path), so a packet may only go with the last run that names it. The index answers "does a
 * remaining run name this path?"; it holds only runs whose payload is such a reference
 * (`payload_type = 'application/store'`), so other runs pay nothing for it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("batch_deletions")
    .addColumn("batch_id", "text", (c) => c.primaryKey())
    .addColumn("environment_id", "text", (c) => c.notNull())
    .addColumn("queued_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`create index runs_stored_payload on runs (environment_id, payload) where payload_type = 'application/store'`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists runs_stored_payload`.execute(db);
  await db.schema.dropTable("batch_deletions").execute();
}
