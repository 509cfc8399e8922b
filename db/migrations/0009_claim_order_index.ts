import { type Kysely, sql } from "kysely";

/**
 * The claim takes a queue's oldest runs in `(created_at, id)` order (`id` breaks the ties of runs
 * inserted by one statement, which share `created_at`). The index had no `id`, so Postgres read
 * every QUEUED run of the queue and sorted them on each claim, a cost that grows with the queue;
 * with `id` in the index the claim reads only the runs it takes.
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
