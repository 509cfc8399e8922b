import { type Kysely, sql } from "kysely";

/**
 * `runs_queued` gains the task between the queue and the age: the claim probes each task it
 * serves in age order (server/lifecycle/claim.ts, `oldestQueued`) and finds whether a queue holds
 * any of them with one probe per task, so neither reads another task's backlog. Built under a new
 * name first, so claims always have an index to use.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index runs_queued_by_task_and_age on runs (environment_id, queue, task_identifier, created_at, id) where status = 'QUEUED'`.execute(
    db,
  );
  await sql`drop index runs_queued`.execute(db);
  await sql`alter index runs_queued_by_task_and_age rename to runs_queued`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`create index runs_queued_by_age on runs (environment_id, queue, created_at, id) where status = 'QUEUED'`.execute(
    db,
  );
  await sql`drop index runs_queued`.execute(db);
  await sql`alter index runs_queued_by_age rename to runs_queued`.execute(db);
}
