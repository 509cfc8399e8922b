import { sql } from "kysely";
import type { z } from "zod";
import type { RunRow } from "../../db/schema.js";
import { formatDuration } from "../../shared/durations.js";
import type {
  BatchRun,
  ListBatchRunsInputSchema,
  ListRunsInputSchema,
  Run,
  RunStatus,
  RunSummary,
} from "../../shared/schemas.js";
import type { AuthenticatedEnvironment } from "../auth/authenticate.js";
import type { Deps } from "../deps.js";
import { badRequest, notFound } from "../errors.js";
import { decodePacket, resolvePacket, STORE_TYPE } from "../packets/codec.js";
import { afterCursor, beforeCursor, decodeCursor, encodeCursor } from "../pagination.js";
import { ownRunIds } from "./own-runs.js";

type SummaryRow = Omit<RunRow, "payload" | "output" | "request_idempotency_key" | "claim_id">;

/** The columns a run's summary reads: everything but its payload, output and lease internals. */
const SUMMARY_COLUMNS = [
  "id",
  "environment_id",
  "task_identifier",
  "status",
  "payload_type",
  "queue",
  "concurrency_key",
  "idempotency_key",
  "idempotency_key_expires_at",
  "tags",
  "metadata",
  "ttl_seconds",
  "delay_until",
  "expires_at",
  "retry_at",
  "attempt",
  "max_attempts",
  "batch_id",
  "batch_index",
  "parent_run_id",
  "resume_parent_on_completion",
  "trigger_function",
  "is_test",
  "lease_owner",
  "lease_expires_at",
  "output_type",
  "error",
  "created_at",
  "updated_at",
  "started_at",
  "finished_at",
  "expired_at",
] as const satisfies readonly (keyof SummaryRow)[];

function summarize(row: SummaryRow): RunSummary {
  const opt = <K extends string, V>(key: K, value: V | null) =>
    value !== null ? ({ [key]: value } as Record<K, V>) : {};
  return {
    id: row.id,
    status: row.status as RunStatus,
    taskIdentifier: row.task_identifier,
    payloadType: row.payload_type,
    ...opt("error", row.error as RunSummary["error"] | null),
    queue: row.queue,
    ...opt("concurrencyKey", row.concurrency_key),
    ...opt("idempotencyKey", row.idempotency_key),
    tags: row.tags,
    ...opt("metadata", row.metadata as Record<string, unknown> | null),
    ...opt("ttl", row.ttl_seconds !== null ? formatDuration(row.ttl_seconds) : null),
    ...opt("delayedUntil", row.delay_until),
    ...opt("expiredAt", row.expired_at),
    attemptCount: row.attempt,
    ...opt("maxAttempts", row.max_attempts),
    ...opt("batchId", row.batch_id),
    ...opt("batchIndex", row.batch_index),
    ...opt("parentRunId", row.parent_run_id),
    triggerFunction: row.trigger_function as Run["triggerFunction"],
    isTest: row.is_test,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    ...opt("startedAt", row.started_at),
    ...opt("finishedAt", row.finished_at),
  };
}

function presentRun(row: RunRow): Run {
  const output = row.output_type !== null ? decodePacket({ data: row.output, type: row.output_type }) : undefined;
  return {
    ...summarize(row),
    payload: decodePacket({ data: row.payload, type: row.payload_type }),
    ...(output !== undefined ? { output } : {}),
  };
}

export async function getRun({ db }: Deps, environment: AuthenticatedEnvironment, runId: string): Promise<Run> {
  const row = await db
    .selectFrom("runs")
    .selectAll()
    .where("id", "=", runId)
    .where("environment_id", "=", environment.id)
    .executeTakeFirst();
  if (!row) throw notFound(`Run ${runId} not found`);
  const run = presentRun(row);
  // Offloaded payloads and outputs are fetched, so callers get the value whatever its size.
  if (row.payload_type === STORE_TYPE) {
    run.payload = await resolvePacket(db, environment.id, { data: row.payload, type: row.payload_type });
  }
  if (row.output_type === STORE_TYPE) {
    run.output = await resolvePacket(db, environment.id, { data: row.output, type: row.output_type });
  }
  return run;
}

export async function listRuns(
  { db }: Deps,
  environment: AuthenticatedEnvironment,
  input: z.output<typeof ListRunsInputSchema>,
): Promise<{ items: RunSummary[]; nextCursor?: string }> {
  let query = db.selectFrom("runs").select(SUMMARY_COLUMNS).where("environment_id", "=", environment.id);
  const many = <T>(value: T | T[] | undefined) =>
    value === undefined ? undefined : Array.isArray(value) ? value : [value];
  const statuses = many(input.status);
  const tasks = many(input.taskIdentifier);
  const tags = many(input.tag);
  const queues = many(input.queue);
  if (statuses) query = query.where("status", "in", statuses);
  if (tasks) query = query.where("task_identifier", "in", tasks);
  if (input.batchId) query = query.where("id", "in", ownRunIds(db, input.batchId));
  if (tags) query = query.where(sql<boolean>`tags && ${sql.val(tags)}::text[]`);
  if (queues) query = query.where("queue", "in", queues);
  if (input.isTest !== undefined) query = query.where("is_test", "=", input.isTest);
  if (input.createdFrom) query = query.where("created_at", ">=", input.createdFrom);
  if (input.createdTo) query = query.where("created_at", "<=", input.createdTo);
  if (input.cursor && input.before)
    throw badRequest("Pass either a cursor (older runs) or before (newer runs), not both");
  // Newest first. A page before a cursor is read oldest first from it, then turned around.
  const backwards = input.before !== undefined;
  if (input.cursor) query = query.where(afterCursor("runs", environment.id, decodeCursor(input.cursor)));
  if (input.before) query = query.where(beforeCursor("runs", environment.id, decodeCursor(input.before)));
  const order = backwards ? "asc" : "desc";
  const rows = await query
    .orderBy("created_at", order)
    .orderBy("id", order)
    .limit(input.limit + 1)
    .execute();
  const more = rows.length > input.limit;
  const page = rows.slice(0, input.limit);
  if (backwards) page.reverse();
  const cursorOf = (row: { created_at: Date; id: string } | undefined) =>
    row ? encodeCursor({ createdAt: row.created_at, id: row.id }) : undefined;
  // Older runs follow when this page stopped short of them, or when it was read backwards from one.
  const next = backwards || more ? cursorOf(page.at(-1)) : undefined;
  // Newer runs precede when the page was read after a cursor, or read backwards and stopped short.
  const previous = (backwards && more) || input.cursor ? cursorOf(page[0]) : undefined;
  return {
    items: page.map(summarize),
    ...(next ? { nextCursor: next } : {}),
    ...(previous ? { previousCursor: previous } : {}),
  };
}

/**
 * A batch's runs in item order: the items after index `cursor` up to `limit` more indexes, and
 * the runs they became. The read is a window of the ledger's primary key (batch, index) joined to
 * each run by id, bounded by the window itself rather than by a plan, so a page costs the same in
 * a batch of 100,000 runs as in one of ten, right after a bulk insert too (when the planner's row
 * estimates are still those of an empty table). Items that became no run (their errors are in
 * `batch.summary`) leave their place empty: a page may hold fewer than `limit` runs. A run
 * another batch created and this one shares through an idempotency key is listed at this batch's
 * index. The caller checks that the batch is the environment's; the join keeps to its runs too.
 */
export async function listBatchRuns(
  { db }: Deps,
  environment: AuthenticatedEnvironment,
  input: z.output<typeof ListBatchRunsInputSchema>,
): Promise<{ items: BatchRun[]; nextCursor?: string }> {
  const after = input.cursor === undefined ? -1 : Number(input.cursor);
  const last = after + input.limit;
  const [rows, more] = await Promise.all([
    db
      .selectFrom("batch_items as i")
      .innerJoin("runs as r", "r.id", "i.run_id")
      .select(SUMMARY_COLUMNS.map((column) => `r.${column}` as const))
      .select("i.batch_index as item_index")
      .where("i.batch_id", "=", input.batchId)
      .where("i.batch_index", ">", after)
      .where("i.batch_index", "<=", last)
      .where("r.environment_id", "=", environment.id)
      .orderBy("i.batch_index")
      .execute(),
    db
      .selectFrom("batch_items")
      .select("batch_index")
      .where("batch_id", "=", input.batchId)
      .where("batch_index", ">", last)
      .limit(1)
      .executeTakeFirst(),
  ]);
  return {
    items: rows.map((row) => ({ ...summarize(row), index: row.item_index })),
    ...(more ? { nextCursor: String(last) } : {}),
  };
}
