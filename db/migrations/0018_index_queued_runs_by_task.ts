import { type Kysely, sql } from "kysely";

/**
 * The claim looks for queues holding queued runs of the worker's tasks. `runs_queued` has no task,
 * so a queue with a backlog of a task the worker does not serve made every claim of the
 * environment walk that whole backlog (bench scenario 6: 100,000 such runs, a claim 35.7x slower
 * with 10^7 runs stored). With the task in an index the look-up is a probe whatever the backlog.
 * Partial like `runs_queued`: only queued runs pay for it.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index runs_queued_by_task on runs (environment_id, task_identifier, queue) where status = 'QUEUED'`.execute(
    db,
  );
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists runs_queued_by_task`.execute(db);
}
