import { type Kysely, sql } from "kysely";

/** What running runs needs: retry times, leases to find, queues to rotate, workers to list. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("runs").addColumn("retry_at", "timestamptz").execute();
  await db.schema.alterTable("queues").addColumn("last_dequeued_at", "timestamptz").execute();
  // Items whose run has reached a final state: the batch is COMPLETED when this reaches the
  // number of items that became runs, without rescanning the batch on every finished run.
  await db.schema
    .alterTable("batches")
    .addColumn("finished_item_count", "integer", (c) => c.notNull().defaultTo(0))
    .execute();

  // Counting what a queue (and each concurrency key of it) has executing, under the queue's lock.
  await sql`create index runs_executing on runs (environment_id, queue, concurrency_key) where status = 'EXECUTING'`.execute(
    db,
  );
  // The sweeps: each finds its few due rows without scanning the table.
  await sql`create index runs_lease_expiry on runs (lease_expires_at) where status = 'EXECUTING'`.execute(db);
  await sql`create index runs_delay_due on runs (delay_until) where status = 'DELAYED'`.execute(db);
  await sql`create index runs_retry_due on runs (retry_at) where status = 'REATTEMPTING'`.execute(db);
  await sql`create index runs_ttl_due on runs (expires_at) where status in ('QUEUED', 'DELAYED') and expires_at is not null`.execute(
    db,
  );
  await sql`create index runs_waiting_parent on runs (parent_run_id) where parent_run_id is not null`.execute(db);
  // A finished run finds the batches whose items resolved to it (its own and idempotent hits).
  await sql`create index batch_items_run on batch_items (run_id) where run_id is not null`.execute(db);

  await db.schema
    .createTable("workers")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("environment_id", "text", (c) => c.notNull().references("environments.id"))
    .addColumn("tasks", sql`text[]`, (c) => c.notNull())
    .addColumn("registered_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("last_seen_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("workers").execute();
  for (const index of [
    "runs_executing",
    "runs_lease_expiry",
    "runs_delay_due",
    "runs_retry_due",
    "runs_ttl_due",
    "runs_waiting_parent",
    "batch_items_run",
  ]) {
    await sql`drop index if exists ${sql.id(index)}`.execute(db);
  }
  await db.schema.alterTable("batches").dropColumn("finished_item_count").execute();
  await db.schema.alterTable("queues").dropColumn("last_dequeued_at").execute();
  await db.schema.alterTable("runs").dropColumn("retry_at").execute();
}
