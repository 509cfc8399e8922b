import { type Kysely, sql } from "kysely";

/**
 * One-time-use public tokens (`otu: true`) already used: the SHA-256 of each, kept until the
 * token expires (it is refused as expired after that anyway). In Postgres rather than Redis so
 * the record survives restarts and works the same with embedded PGlite.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("used_tokens")
    .addColumn("token_hash", "text", (c) => c.primaryKey())
    .addColumn("expires_at", "timestamptz", (c) => c.notNull())
    .addColumn("used_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex("used_tokens_expires_at").on("used_tokens").column("expires_at").execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("used_tokens").execute();
}
