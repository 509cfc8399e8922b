import { sql, type Transaction } from "kysely";
import type { Database } from "../../db/schema.js";
import type { PreparedRun } from "./prepare.js";

/**
 * The columns a new run is written with, each sent as one `text[]` of all rows and cast back in
 * SQL. One statement with 21 bind parameters replaces a VALUES list with ~30 parameters per row:
 * Postgres parses and plans one small statement, and the driver serializes 21 arrays instead of
 * tens of thousands of values. Everything goes as text so node-postgres and PGlite serialize the
 * arrays the same way; `null` stays NULL.
 */
const COLUMNS: [column: string, cast: string, value: (row: PreparedRun["row"]) => string | null][] = [
  ["id", "text", (r) => r.id],
  ["environment_id", "text", (r) => r.environment_id],
  ["task_identifier", "text", (r) => r.task_identifier],
  ["status", "text", (r) => r.status],
  ["payload", "text", (r) => r.payload ?? null],
  ["payload_type", "text", (r) => r.payload_type],
  ["queue", "text", (r) => r.queue],
  ["concurrency_key", "text", (r) => r.concurrency_key ?? null],
  ["idempotency_key", "text", (r) => r.idempotency_key ?? null],
  ["idempotency_key_expires_at", "timestamptz", (r) => timestamp(r.idempotency_key_expires_at)],
  ["tags", "text[]", (r) => arrayLiteral(r.tags ?? [])],
  ["metadata", "jsonb", (r) => (r.metadata === null || r.metadata === undefined ? null : String(r.metadata))],
  ["ttl_seconds", "integer", (r) => number(r.ttl_seconds)],
  ["delay_until", "timestamptz", (r) => timestamp(r.delay_until)],
  ["expires_at", "timestamptz", (r) => timestamp(r.expires_at)],
  ["max_attempts", "integer", (r) => number(r.max_attempts)],
  ["batch_id", "text", (r) => r.batch_id ?? null],
  ["batch_index", "integer", (r) => number(r.batch_index)],
  ["parent_run_id", "text", (r) => r.parent_run_id ?? null],
  ["resume_parent_on_completion", "boolean", (r) => String(r.resume_parent_on_completion ?? false)],
  ["trigger_function", "text", (r) => r.trigger_function],
  ["is_test", "boolean", (r) => String(r.is_test ?? false)],
  ["created_at", "timestamptz", (r) => timestamp(r.created_at)],
  ["updated_at", "timestamptz", (r) => timestamp(r.updated_at)],
];

const INSERT_SQL = (() => {
  const names = COLUMNS.map(([c]) => c).join(", ");
  const casts = COLUMNS.map(([c, cast]) => (cast === "text" ? c : `${c}::${cast}`)).join(", ");
  return { names, casts };
})();

/**
 * Inserts the runs in one statement; a row that hits a unique index (a live idempotency key
 * committed meanwhile, or a taken `(batch_id, batch_index)`) is skipped. Returns the ids inserted.
 */
export async function insertRuns(trx: Transaction<Database>, rows: PreparedRun["row"][]): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const arrays = COLUMNS.map(([, , value]) => rows.map(value));
  const params = sql.join(arrays.map((a) => sql`${a}::text[]`));
  const { rows: inserted } = await sql<{ id: string }>`
    insert into runs (${sql.raw(INSERT_SQL.names)})
    select ${sql.raw(INSERT_SQL.casts)}
    from unnest(${params}) as t(${sql.raw(INSERT_SQL.names)})
    on conflict do nothing
    returning id`.execute(trx);
  return new Set(inserted.map((r) => r.id));
}

function timestamp(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  return value instanceof Date ? value.toISOString() : String(value);
}

function number(value: number | null | undefined): string | null {
  return value === null || value === undefined ? null : String(value);
}

/** A Postgres array literal: every element double-quoted, `"` and `\` escaped. */
export function arrayLiteral(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/["\\]/g, (c) => `\\${c}`)}"`).join(",")}}`;
}
