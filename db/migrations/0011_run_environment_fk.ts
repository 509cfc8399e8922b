import { type Kysely, sql } from "kysely";

/**
 * Drops the last per-row foreign key on the bulk insert path, runs.environment_id. A foreign key
 * is checked by a trigger that runs a query per inserted row (locking the environment row each
 * time), so a bulk insert paid for it once per run for a fact that holds by construction: a run's
 * environment is always the authenticated caller's, read from the environments table in the same
 * request, and environments are never deleted (revoking access revokes keys, not environments).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`alter table runs drop constraint if exists runs_environment_id_fkey`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table runs add constraint runs_environment_id_fkey foreign key (environment_id) references environments (id)`.execute(
    db,
  );
}
