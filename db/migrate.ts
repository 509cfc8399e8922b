import type { Kysely } from "kysely";
import { type Migration, type MigrationProvider, Migrator } from "kysely/migration";
import * as initial from "./migrations/0001_initial.js";
import * as keyEncryption from "./migrations/0002_key_encryption.js";
import * as events from "./migrations/0003_events.js";
import * as limits from "./migrations/0004_limits.js";
import * as packets from "./migrations/0005_packets.js";
import * as bench from "./migrations/0006_bench.js";
import * as execution from "./migrations/0008_execution.js";
import * as claimOrderIndex from "./migrations/0009_claim_order_index.js";
import * as unusedEventIndexes from "./migrations/0010_unused_event_indexes.js";
import * as runEnvironmentFk from "./migrations/0011_run_environment_fk.js";
import * as ledgerReferences from "./migrations/0012_ledger_references.js";
import * as runsBatchIndex from "./migrations/0013_runs_batch_index.js";
import * as claimIds from "./migrations/0014_claim_ids.js";
import * as usedTokens from "./migrations/0015_used_tokens.js";
import * as workerPresence from "./migrations/0016_worker_presence.js";
import * as retention from "./migrations/0017_retention.js";
import * as queuedRunsByTask from "./migrations/0018_index_queued_runs_by_task.js";
import * as noQueuedRunsByTask from "./migrations/0019_drop_index_queued_runs_by_task.js";
import * as taskInRunsQueued from "./migrations/0020_add_task_to_runs_queued.js";

/**
 * Migrations are listed here (not read from disk) so they ship inside any bundle of the server.
 * Name new ones `NNNN_<verb>_<object>` and never rename an applied one (docs/MIGRATIONS.md);
 * unordered application is allowed so branches can add theirs.
 */
const MIGRATIONS: Record<string, Migration> = {
  "0001_initial": initial,
  "0002_key_encryption": keyEncryption,
  "0005_packets": packets,
  "0004_limits": limits,
  "0006_bench": bench,
  "0008_execution": execution,
  "0009_claim_order_index": claimOrderIndex,
  "0010_unused_event_indexes": unusedEventIndexes,
  "0003_events": events,
  "0011_run_environment_fk": runEnvironmentFk,
  "0012_ledger_references": ledgerReferences,
  "0013_runs_batch_index": runsBatchIndex,
  "0014_claim_ids": claimIds,
  "0015_used_tokens": usedTokens,
  "0016_worker_presence": workerPresence,
  "0017_retention": retention,
  "0018_index_queued_runs_by_task": queuedRunsByTask,
  "0019_drop_index_queued_runs_by_task": noQueuedRunsByTask,
  "0020_add_task_to_runs_queued": taskInRunsQueued,
};

class StaticMigrationProvider implements MigrationProvider {
  async getMigrations() {
    return MIGRATIONS;
  }
}

const migrator = <DB>(db: Kysely<DB>) =>
  new Migrator({ db, provider: new StaticMigrationProvider(), allowUnorderedMigrations: true });

/** Names of this build's migrations the database has not applied (empty: the schema is current). */
export async function pendingMigrations<DB>(db: Kysely<DB>): Promise<string[]> {
  return (await migrator(db).getMigrations()).filter((m) => m.executedAt === undefined).map((m) => m.name);
}

/** Brings the schema up to date. Safe to call from several processes at once (Kysely takes a lock). */
export async function migrateToLatest<DB>(db: Kysely<DB>): Promise<string[]> {
  const { error, results } = await migrator(db).migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === "Success").map((r) => r.migrationName);
}
