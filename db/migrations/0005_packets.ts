import { type Kysely, sql } from "kysely";

/**
 * Offloaded payloads ("packets"): the SDK uploads any payload of 128 KiB or more before it
 * triggers, then refers to it by path (`payloadType: "application/store"`). A packet belongs to
 * one environment; the same path in another environment is another packet. Also the request
 * idempotency key of single triggers (below).
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

  // `x-trigger-request-idempotency-key` of the trigger that made a run: the SDK reuses it when it
  // retries a trigger whose answer was lost, and gets the first run back.
  await db.schema.alterTable("runs").addColumn("request_idempotency_key", "text").execute();
  await sql`create index runs_request_idempotency_key on runs (environment_id, request_idempotency_key) where request_idempotency_key is not null`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("runs").dropColumn("request_idempotency_key").execute();
  await db.schema.dropTable("packets").execute();
}
