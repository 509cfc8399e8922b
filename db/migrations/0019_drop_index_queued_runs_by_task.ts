import { type Kysely, sql } from "kysely";

/**
 * Withdraws 0018's `runs_queued_by_task`. It made the claim's queue look-up flat with another
 * task's backlog stored, but the claim's own candidate scan then chose it too (a generic plan on a
 * table without fresh statistics: it read and sorted every queued run of the queue instead of
 * stopping at the oldest), and claims stayed twice as slow after an ANALYZE for a reason not
 * traced: the drain benchmark fell from 2,244 to 804 runs/s. docs/SCALING.md has the measurements
 * and the shape of the fix to try (the task inside `runs_queued`, probed per task).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists runs_queued_by_task`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`create index runs_queued_by_task on runs (environment_id, task_identifier, queue) where status = 'QUEUED'`.execute(
    db,
  );
}
