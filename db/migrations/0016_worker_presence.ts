import type { Kysely } from "kysely";

/**
 * A worker's presence stream: which connection is its current one, and when the server saw it
 * close. Runs of a worker whose connection closed (and was not replaced) are reclaimed after a
 * short grace instead of waiting out their leases.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable("workers")
    .addColumn("connection_id", "text")
    .addColumn("disconnected_at", "timestamptz")
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("workers").dropColumn("connection_id").dropColumn("disconnected_at").execute();
}
