import { sql, type Transaction } from "kysely";
import { bulkRows } from "../../db/bulk-rows.js";
import { copyRows, copyText } from "../../db/copy-rows.js";
import { isUniqueViolation } from "../../db/errors.js";
import type { Database } from "../../db/schema.js";
import type { PreparedRun } from "./prepare.js";

/**
 * The columns a new run is written with, and their SQL types. A chunk's rows travel as one COPY
 * (db/copy-rows.ts), or, when some must be skipped, as one statement with a few bind parameters
 * however many rows there are (db/bulk-rows.ts).
 */
const COLUMNS = [
  ["id", "text"],
  ["environment_id", "text"],
  ["task_identifier", "text"],
  ["status", "text"],
  ["payload", "text"],
  ["payload_type", "text"],
  ["queue", "text"],
  ["concurrency_key", "text"],
  ["idempotency_key", "text"],
  ["idempotency_key_expires_at", "timestamptz"],
  ["tags", "text[]"],
  ["metadata", "jsonb"],
  ["ttl_seconds", "integer"],
  ["delay_until", "timestamptz"],
  ["expires_at", "timestamptz"],
  ["max_attempts", "integer"],
  ["batch_id", "text"],
  ["batch_index", "integer"],
  ["parent_run_id", "text"],
  ["resume_parent_on_completion", "boolean"],
  ["trigger_function", "text"],
  ["is_test", "boolean"],
  ["request_idempotency_key", "text"],
  ["created_at", "timestamptz"],
  ["updated_at", "timestamptz"],
] as const;

type Column = (typeof COLUMNS)[number][0];

/**
 * Columns a run is never created with (they change as it executes). Any other column of the runs
 * table must be in COLUMNS: a column added to the table but not here fails to compile below,
 * instead of being silently dropped from every insert.
 */
type SetLater =
  | "attempt"
  | "lease_owner"
  | "lease_expires_at"
  | "claim_id"
  | "output"
  | "output_type"
  | "error"
  | "started_at"
  | "finished_at"
  | "expired_at"
  | "retry_at";
type Unsent = Exclude<keyof PreparedRun["row"], Column | SetLater>;
const everyColumnSent: [Unsent] extends [never] ? true : { missingFromColumns: Unsent } = true;
void everyColumnSent;

const NAMES = sql.raw(COLUMNS.map(([name]) => name).join(", "));

/**
 * Dates as ISO text, each distinct instant converted once per call: the rows of a chunk share
 * their timestamps (created_at, updated_at, the idempotency key's expiry), and Date#toISOString
 * was a tenth of the server's CPU time while streaming.
 */
function isoCache() {
  const texts = new Map<number, string>();
  return (value: unknown): string | null => {
    if (value === null || value === undefined) return null;
    if (!(value instanceof Date)) return String(value);
    let text = texts.get(value.getTime());
    if (text === undefined) {
      text = value.toISOString();
      texts.set(value.getTime(), text);
    }
    return text;
  };
}

/**
 * The row with its values as `bulkRows` and `copyText` want them: dates as ISO text. Metadata
 * stays the JSON text prepareRun made of it; the JSON path parses it (below), so it reaches the
 * jsonb column as a value there, not as a JSON string.
 */
function plainRow(row: PreparedRun["row"], iso: (value: unknown) => string | null): Record<Column, unknown> {
  return {
    id: row.id,
    environment_id: row.environment_id,
    task_identifier: row.task_identifier,
    status: row.status,
    payload: row.payload ?? null,
    payload_type: row.payload_type,
    queue: row.queue,
    concurrency_key: row.concurrency_key ?? null,
    idempotency_key: row.idempotency_key ?? null,
    idempotency_key_expires_at: iso(row.idempotency_key_expires_at),
    tags: row.tags ?? [],
    metadata: row.metadata === null || row.metadata === undefined ? null : String(row.metadata),
    ttl_seconds: row.ttl_seconds ?? null,
    delay_until: iso(row.delay_until),
    expires_at: iso(row.expires_at),
    max_attempts: row.max_attempts ?? null,
    batch_id: row.batch_id ?? null,
    batch_index: row.batch_index ?? null,
    parent_run_id: row.parent_run_id ?? null,
    resume_parent_on_completion: row.resume_parent_on_completion ?? false,
    trigger_function: row.trigger_function,
    is_test: row.is_test ?? false,
    request_idempotency_key: row.request_idempotency_key ?? null,
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
  };
}

/**
 * Rows ready to insert, with the COPY data already built: building it is most of a chunk's CPU
 * time, so callers build it before they open their transaction, where it overlaps the database's
 * work on the previous chunk.
 */
export interface RunInsert {
  rows: PreparedRun["row"][];
  copy: string;
}

export function planRunInsert(rows: PreparedRun["row"][]): RunInsert {
  const iso = isoCache();
  return {
    rows,
    copy:
      rows.length === 0
        ? ""
        : copyText(
            COLUMNS,
            rows.map((row) => plainRow(row, iso)),
          ),
  };
}

/** The rows as an `INSERT ... SELECT` source, for the rare insert that must skip conflicts. */
function selectRows(rows: PreparedRun["row"][]) {
  const iso = isoCache();
  return bulkRows(
    COLUMNS,
    rows.map((row) => {
      const plain = plainRow(row, iso);
      return plain.metadata === null ? plain : { ...plain, metadata: JSON.parse(plain.metadata as string) as unknown };
    }),
  );
}

/**
 * Inserts the runs; a row whose idempotency key is taken (the one unique index a new run can hit)
 * is skipped. Returns the ids inserted.
 *
 * Almost every insert collides with nothing, so it is first tried as one COPY (db/copy-rows.ts)
 * inside a savepoint: `ON CONFLICT` probes every unique index once more per row before inserting
 * it and `RETURNING` sends every id back, a cost every insert would pay for the rare collision.
 * Only when that fails on a unique index is it rolled back and redone as
 * `INSERT ... ON CONFLICT DO NOTHING RETURNING id`.
 */
export async function insertRuns(trx: Transaction<Database>, { rows, copy }: RunInsert): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  await sql`savepoint insert_runs`.execute(trx);
  try {
    await copyRows(trx, "runs", COLUMNS, copy);
    await sql`release savepoint insert_runs`.execute(trx);
    return new Set(rows.map((r) => r.id));
  } catch (err) {
    if (!isUniqueViolation(err)) throw err;
    await sql`rollback to savepoint insert_runs`.execute(trx);
  }
  const { rows: inserted } = await sql<{ id: string }>`
    insert into runs (${NAMES}) ${selectRows(rows)}
    on conflict do nothing
    returning id`.execute(trx);
  return new Set(inserted.map((r) => r.id));
}
