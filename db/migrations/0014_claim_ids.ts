import { type Kysely, sql } from "kysely";

/**
 * `runs.claim_id`: a fresh token each time a worker claims the run. Reports, heartbeats and
 * releases name it, so a late report of an earlier attempt (its lease expired and the run was
 * claimed again, maybe by the same worker) is refused instead of landing on the new attempt.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table runs add column if not exists claim_id text`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table runs drop column if exists claim_id`.execute(db);
}
