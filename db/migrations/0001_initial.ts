import { type Kysely, sql } from "kysely";

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("environments")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("project", "text", (c) => c.notNull())
    .addColumn("type", "text", (c) => c.notNull().check(sql`type in ('dev', 'staging', 'prod', 'preview')`))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable("api_keys")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("environment_id", "text", (c) => c.notNull().references("environments.id"))
    .addColumn("key_hash", "text", (c) => c.notNull().unique())
    .addColumn("key_prefix", "text", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("revoked_at", "timestamptz")
    .execute();

  await db.schema
    .createTable("queues")
    .addColumn("environment_id", "text", (c) => c.notNull().references("environments.id"))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("concurrency_limit", "integer")
    .addColumn("paused", "boolean", (c) => c.notNull().defaultTo(false))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint("queues_pkey", ["environment_id", "name"])
    .execute();

  await db.schema
    .createTable("batches")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("environment_id", "text", (c) => c.notNull().references("environments.id"))
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("run_count", "integer", (c) => c.notNull())
    .addColumn("enqueued_count", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("sealed", "boolean", (c) => c.notNull().defaultTo(false))
    .addColumn("idempotency_key", "text")
    .addColumn("request_idempotency_key", "text")
    .addColumn("parent_run_id", "text")
    .addColumn("resume_parent_on_completion", "boolean", (c) => c.notNull().defaultTo(false))
    .addColumn("successful_run_count", "integer")
    .addColumn("failed_run_count", "integer")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("sealed_at", "timestamptz")
    .addColumn("processing_completed_at", "timestamptz")
    .addColumn("completed_at", "timestamptz")
    .execute();
  await sql`create unique index batches_idempotency_key on batches (environment_id, idempotency_key) where idempotency_key is not null`.execute(
    db,
  );
  await sql`create unique index batches_request_idempotency_key on batches (environment_id, request_idempotency_key) where request_idempotency_key is not null`.execute(
    db,
  );
  await sql`create index batches_listing on batches (environment_id, created_at desc, id desc)`.execute(db);

  await db.schema
    .createTable("runs")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("environment_id", "text", (c) => c.notNull().references("environments.id"))
    .addColumn("task_identifier", "text", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull())
    .addColumn("payload", "text")
    .addColumn("payload_type", "text", (c) => c.notNull())
    .addColumn("queue", "text", (c) => c.notNull())
    .addColumn("concurrency_key", "text")
    .addColumn("idempotency_key", "text")
    .addColumn("idempotency_key_expires_at", "timestamptz")
    .addColumn("tags", sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'`))
    .addColumn("metadata", "jsonb")
    .addColumn("ttl_seconds", "integer")
    .addColumn("delay_until", "timestamptz")
    .addColumn("expires_at", "timestamptz")
    .addColumn("attempt", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("max_attempts", "integer")
    .addColumn("batch_id", "text", (c) => c.references("batches.id"))
    .addColumn("batch_index", "integer")
    .addColumn("parent_run_id", "text")
    .addColumn("resume_parent_on_completion", "boolean", (c) => c.notNull().defaultTo(false))
    .addColumn("trigger_function", "text", (c) => c.notNull())
    .addColumn("is_test", "boolean", (c) => c.notNull().defaultTo(false))
    .addColumn("lease_owner", "text")
    .addColumn("lease_expires_at", "timestamptz")
    .addColumn("output", "text")
    .addColumn("output_type", "text")
    .addColumn("error", "jsonb")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("started_at", "timestamptz")
    .addColumn("finished_at", "timestamptz")
    .addColumn("expired_at", "timestamptz")
    .addUniqueConstraint("runs_batch_index", ["batch_id", "batch_index"])
    .execute();
  // Invariant 2: one live run per (environment, task, idempotency key).
  await sql`create unique index runs_idempotency_key on runs (environment_id, task_identifier, idempotency_key) where idempotency_key is not null`.execute(
    db,
  );
  await sql`create index runs_listing on runs (environment_id, created_at desc, id desc)`.execute(db);
  await sql`create index runs_queued on runs (environment_id, queue, created_at) where status = 'QUEUED'`.execute(db);

  await db.schema
    .createTable("batch_items")
    .addColumn("batch_id", "text", (c) => c.notNull().references("batches.id"))
    .addColumn("batch_index", "integer", (c) => c.notNull())
    .addColumn("task_identifier", "text", (c) => c.notNull())
    .addColumn("run_id", "text", (c) => c.references("runs.id"))
    .addColumn("error", "text")
    .addColumn("error_code", "text")
    .addPrimaryKeyConstraint("batch_items_pkey", ["batch_id", "batch_index"])
    .execute();

  await db.schema
    .createTable("events")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("environment_id", "text", (c) => c.notNull())
    .addColumn("batch_id", "text")
    .addColumn("run_id", "text")
    .addColumn("type", "text", (c) => c.notNull())
    .addColumn("data", "jsonb")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`create index events_by_batch on events (batch_id, id) where batch_id is not null`.execute(db);
  await sql`create index events_by_run on events (run_id, id) where run_id is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ["events", "batch_items", "runs", "batches", "queues", "api_keys", "environments"]) {
    await db.schema.dropTable(table).ifExists().execute();
  }
}
