import { type Kysely, sql } from "kysely";

/** Per-environment overrides of the batch rate limit, and the index the seal-timeout sweep reads. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("environment_limits")
    .addColumn("environment_id", "text", (c) => c.primaryKey().references("environments.id").onDelete("cascade"))
    .addColumn("batch_rate_limit_max", "integer", (c) => c.notNull())
    .addColumn("batch_rate_limit_refill", "integer", (c) => c.notNull())
    .addColumn("batch_rate_limit_interval_ms", "integer", (c) => c.notNull())
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  // Only unsealed two-phase batches are indexed: the sweep finds the overdue few without a scan.
  await sql`create index batches_unsealed on batches (created_at) where sealed = false and status = 'PENDING'`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists batches_unsealed`.execute(db);
  await db.schema.dropTable("environment_limits").execute();
}
