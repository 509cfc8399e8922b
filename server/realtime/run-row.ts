import type { RunRow } from "../../db/schema.js";
import { formatDuration } from "../../shared/durations.js";
import type { RunStatus } from "../../shared/schemas.js";

/** The run columns a shape row is built from. */
export const SHAPE_RUN_COLUMNS = [
  "id",
  "task_identifier",
  "status",
  "created_at",
  "updated_at",
  "started_at",
  "delay_until",
  "expired_at",
  "finished_at",
  "idempotency_key",
  "is_test",
  "ttl_seconds",
  "payload",
  "payload_type",
  "metadata",
  "output",
  "output_type",
  "tags",
  "error",
  "batch_id",
] as const satisfies readonly (keyof RunRow)[];

export type ShapeRunRow = Pick<RunRow, (typeof SHAPE_RUN_COLUMNS)[number]>;

/**
 * The row's columns as Trigger.dev's `TaskRun` table names them (what the SDK's
 * `SubscribeRunRawShape` parses), with their Postgres types: `@electric-sql/client` turns each
 * value, sent as Postgres text, back into a JS value by this schema (`electric-schema` header).
 */
const COLUMN_TYPES = {
  id: { type: "text", not_null: true },
  friendlyId: { type: "text", not_null: true },
  taskIdentifier: { type: "text", not_null: true },
  status: { type: "text", not_null: true },
  createdAt: { type: "timestamp", not_null: true },
  updatedAt: { type: "timestamp", not_null: true },
  startedAt: { type: "timestamp" },
  delayUntil: { type: "timestamp" },
  queuedAt: { type: "timestamp" },
  expiredAt: { type: "timestamp" },
  completedAt: { type: "timestamp" },
  idempotencyKey: { type: "text" },
  number: { type: "int4", not_null: true },
  isTest: { type: "bool", not_null: true },
  usageDurationMs: { type: "int4", not_null: true },
  costInCents: { type: "float8", not_null: true },
  baseCostInCents: { type: "float8", not_null: true },
  ttl: { type: "text" },
  payload: { type: "text" },
  payloadType: { type: "text" },
  metadata: { type: "text" },
  metadataType: { type: "text" },
  output: { type: "text" },
  outputType: { type: "text" },
  runTags: { type: "text", dims: 1 },
  error: { type: "jsonb" },
  realtimeStreams: { type: "text", dims: 1, not_null: true },
} as const;

export type ShapeColumn = keyof typeof COLUMN_TYPES;
export type ShapeRow = Partial<Record<ShapeColumn, string | null>>;

/** What the SDK's zod schema requires and what a row is recognised by: never skipped. */
const REQUIRED: ReadonlySet<string> = new Set([
  "id",
  "friendlyId",
  "taskIdentifier",
  "status",
  "createdAt",
  "updatedAt",
]);

/**
 * `skipColumns=payload,output` as the SDK sends it: the columns left out of every row. Unknown
 * names and required columns are ignored, as Trigger.dev does.
 */
export function parseSkipColumns(text: string | undefined): Set<ShapeColumn> {
  const skipped = new Set<ShapeColumn>();
  for (const name of (text ?? "").split(",")) {
    const column = name.trim();
    if (column in COLUMN_TYPES && !REQUIRED.has(column)) skipped.add(column as ShapeColumn);
  }
  return skipped;
}

/** The `electric-schema` header: the types of the columns a subscriber receives. */
export function schemaHeader(skipped: ReadonlySet<ShapeColumn>): string {
  const schema: Record<string, unknown> = {};
  for (const [name, type] of Object.entries(COLUMN_TYPES)) if (!skipped.has(name as ShapeColumn)) schema[name] = type;
  return JSON.stringify(schema);
}

/**
 * Salvo's statuses as the `TaskRunStatus` values the SDK maps back to its public statuses
 * (`apiStatusFromRunStatus` in the core package): QUEUED is "PENDING" there, COMPLETED is
 * "COMPLETED_SUCCESSFULLY", FAILED "COMPLETED_WITH_ERRORS", WAITING "WAITING_TO_RESUME". A run
 * waiting for its next attempt shows as queued, as `runs.retrieve` says.
 */
const RAW_STATUS: Record<RunStatus, string> = {
  DELAYED: "DELAYED",
  QUEUED: "PENDING",
  REATTEMPTING: "PENDING",
  EXECUTING: "EXECUTING",
  WAITING: "WAITING_TO_RESUME",
  COMPLETED: "COMPLETED_SUCCESSFULLY",
  FAILED: "COMPLETED_WITH_ERRORS",
  CANCELED: "CANCELED",
  EXPIRED: "EXPIRED",
  CRASHED: "CRASHED",
  SYSTEM_FAILURE: "SYSTEM_FAILURE",
  TIMED_OUT: "TIMED_OUT",
};

/** Postgres `timestamp` text, which the SDK reads as UTC by appending "Z". */
const timestamp = (date: Date | null) => (date === null ? null : new Date(date).toISOString().slice(0, -1));

/** A Postgres array literal with every element quoted (tags may hold commas, quotes, braces). */
const textArray = (values: string[]) =>
  `{${values.map((v) => `"${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`).join(",")}}`;

/** Salvo's stored error (`{message, name?, stackTrace?}`) as Trigger.dev's `TaskRunError`. */
function runError(error: unknown): string | null {
  if (error === null || typeof error !== "object") return null;
  const e = error as { message?: unknown; name?: unknown; stackTrace?: unknown };
  return JSON.stringify({
    type: "BUILT_IN_ERROR",
    name: typeof e.name === "string" ? e.name : "Error",
    message: typeof e.message === "string" ? e.message : "",
    stackTrace: typeof e.stackTrace === "string" ? e.stackTrace : "",
  });
}

/** One run as a shape row: every value in its Postgres text form (see COLUMN_TYPES). */
export function shapeRow(run: ShapeRunRow): Required<ShapeRow> {
  const started = run.started_at === null ? null : new Date(run.started_at);
  const finished = run.finished_at === null ? null : new Date(run.finished_at);
  return {
    id: run.id,
    friendlyId: run.id,
    taskIdentifier: run.task_identifier,
    status: RAW_STATUS[run.status as RunStatus] ?? "PENDING",
    createdAt: timestamp(run.created_at),
    updatedAt: timestamp(run.updated_at),
    startedAt: timestamp(run.started_at),
    delayUntil: timestamp(run.delay_until),
    queuedAt: timestamp(run.delay_until ?? run.created_at),
    expiredAt: timestamp(run.expired_at),
    completedAt: timestamp(run.finished_at),
    idempotencyKey: run.idempotency_key,
    number: "0",
    isTest: run.is_test ? "true" : "false",
    usageDurationMs: String(started && finished ? Math.max(0, finished.getTime() - started.getTime()) : 0),
    costInCents: "0",
    baseCostInCents: "0",
    ttl: run.ttl_seconds === null ? null : formatDuration(run.ttl_seconds),
    payload: run.payload,
    payloadType: run.payload_type,
    metadata: run.metadata === null || run.metadata === undefined ? null : JSON.stringify(run.metadata),
    metadataType: run.metadata === null || run.metadata === undefined ? null : "application/json",
    output: run.output,
    outputType: run.output_type,
    runTags: textArray(run.tags),
    error: runError(run.error),
    realtimeStreams: "{}",
  };
}

/** The row without the skipped columns. */
export function withoutSkipped(row: Required<ShapeRow>, skipped: ReadonlySet<ShapeColumn>): ShapeRow {
  if (skipped.size === 0) return row;
  const out: ShapeRow = {};
  for (const [name, value] of Object.entries(row))
    if (!skipped.has(name as ShapeColumn)) out[name as ShapeColumn] = value;
  return out;
}
