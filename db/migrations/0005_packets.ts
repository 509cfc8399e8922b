import { type Kysely, sql } from "kysely";

/**
 * Offloaded payloads ("packets"): the SDK uploads any payload of 128 KiB or more before it
 * triggers, then refers to it by path (`payloadType: "application/store"`). A packet belongs to
 * one environment; the same path in another environment is another packet.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("packets")
    .addColumn("environment_id", "text", (c) => c.notNull().references("environments.id"))
    .addColumn("path", "text", (c) => c.notNull())
    .addColumn("content_type", "text", (c) => c.notNull())
    .addColumn("data", "bytea", (c) => c.notNull())
    .addColumn("size", "integer", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint("packets_pkey", ["environment_id", "path"])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("packets").execute();
}
