import { type Kysely, sql } from "kysely";

/**
 * The claim takes a queue's oldest runs in `(created_at, id)` order (`id` breaks the ties of runs
 * inserted by one statement, which share `created_at`). The index had no `id`, so Postgres read
 * every QUEUED run of the queue and sorted them: 25 ms per claim with 20,000 queued, 1.4 ms with
 * the order in the index (EXPLAIN ANALYZE of one claim of 10).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists runs_queued`.execute(db);
  await sql`create index runs_queued on runs (environment_id, queue, created_at, id) where status = 'QUEUED'`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists runs_queued`.execute(db);
  await sql`create index runs_queued on runs (environment_id, queue, created_at) where status = 'QUEUED'`.execute(db);
}
