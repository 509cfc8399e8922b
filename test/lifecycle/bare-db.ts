import type { Kysely, Transaction } from "kysely";
import { afterAll, beforeAll } from "vitest";
import { connect } from "../../db/connect.js";
import { migrateToLatest } from "../../db/migrate.js";
import type { BatchRow, Database, RunRow } from "../../db/schema.js";
import { transaction } from "../../db/transaction.js";

/**
 * A bare database for the lifecycle's transitions, graphile-worker style: a migrated in-memory
 * PGlite and Kysely, no server, no HTTP. Rows are written directly, in the states a transition
 * starts from, and read back after it.
 */
export interface BareDb {
  db: Kysely<Database>;
  environmentId: string;
  /** Runs `work` in one transaction, as the callers of the lifecycle do. */
  tx<T>(work: (trx: Transaction<Database>) => Promise<T>): Promise<T>;
  run(fields?: Partial<RunRow>): Promise<RunRow>;
  batch(fields?: Partial<BatchRow>): Promise<BatchRow>;
  /** A ledger row: index `index` of `batchId` points at `runId` (null: an item error). */
  item(batchId: string, index: number, runId: string | null, cached?: boolean): Promise<void>;
  runRow(id: string): Promise<RunRow>;
  batchRow(id: string): Promise<BatchRow>;
  /** The events written, oldest first, as `type` plus parsed data. */
  events(filter?: { runId?: string; batchId?: string }): Promise<{ type: string; data: Record<string, unknown> }[]>;
  close(): Promise<void>;
}

let counter = 0;
const id = (prefix: string) => `${prefix}_${process.pid}_${++counter}`;

export async function bareDb(): Promise<BareDb> {
  const connection = await connect({ dataDir: "memory://" });
  const { db } = connection;
  await migrateToLatest(db);
  const environmentId = id("env");
  await db.insertInto("environments").values({ id: environmentId, project: "lifecycle", type: "dev" }).execute();
  return {
    db,
    environmentId,
    tx: (work) => transaction(db, work),
    async run(fields = {}) {
      return db
        .insertInto("runs")
        .values({
          id: id("run"),
          environment_id: environmentId,
          task_identifier: "task",
          status: "QUEUED",
          payload: null,
          payload_type: "application/json",
          queue: "task/task",
          concurrency_key: null,
          idempotency_key: null,
          metadata: null,
          ttl_seconds: null,
          max_attempts: null,
          batch_id: null,
          batch_index: null,
          parent_run_id: null,
          trigger_function: "trigger",
          lease_owner: null,
          output: null,
          output_type: null,
          error: null,
          request_idempotency_key: null,
          ...fields,
        } as never)
        .returningAll()
        .executeTakeFirstOrThrow();
    },
    async batch(fields = {}) {
      return db
        .insertInto("batches")
        .values({
          id: id("batch"),
          environment_id: environmentId,
          status: "PENDING",
          run_count: 1,
          idempotency_key: null,
          request_idempotency_key: null,
          parent_run_id: null,
          successful_run_count: null,
          failed_run_count: null,
          ...fields,
        } as never)
        .returningAll()
        .executeTakeFirstOrThrow();
    },
    async item(batchId, index, runId, cached = false) {
      await db
        .insertInto("batch_items")
        .values({
          batch_id: batchId,
          batch_index: index,
          task_identifier: "task",
          run_id: runId,
          cached,
          error: runId === null ? "refused" : null,
          error_code: null,
        })
        .execute();
    },
    runRow: (runId) => db.selectFrom("runs").selectAll().where("id", "=", runId).executeTakeFirstOrThrow(),
    batchRow: (batchId) => db.selectFrom("batches").selectAll().where("id", "=", batchId).executeTakeFirstOrThrow(),
    async events(filter = {}) {
      let query = db.selectFrom("events").select(["type", "data"]).where("environment_id", "=", environmentId);
      if (filter.runId) query = query.where("run_id", "=", filter.runId);
      if (filter.batchId) query = query.where("batch_id", "=", filter.batchId);
      const rows = await query.orderBy("id").execute();
      return rows.map((r) => ({
        type: r.type,
        data: (typeof r.data === "string" ? JSON.parse(r.data) : r.data) as Record<string, unknown>,
      }));
    },
    close: () => connection.close(),
  };
}

/** The execution settings a transition that retries needs: 3 attempts, a short backoff. */
export const POLICY = { defaultMaxAttempts: 3, retryBaseMs: 1000, retryMaxMs: 60_000 };

/**
 * One bare database for the test file: created before its tests, closed after them. The handle
 * reads through to the database once `beforeAll` has made it, so a file can name it at the top.
 */
export function useBareDb(): BareDb {
  let current: BareDb | undefined;
  beforeAll(async () => {
    current = await bareDb();
  });
  afterAll(() => current?.close());
  return new Proxy({} as BareDb, {
    get(_, key: keyof BareDb) {
      if (!current) throw new Error("the bare database is made in beforeAll: use it inside a test or hook");
      return current[key];
    },
  });
}
