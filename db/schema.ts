import type { ColumnType, Generated, Insertable, Selectable } from "kysely";

type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
type Json = ColumnType<unknown, string | undefined | null, string | null>;

export type EnvironmentType = "dev" | "staging" | "prod" | "preview";

export interface EnvironmentsTable {
  id: string;
  project: string;
  type: EnvironmentType;
  created_at: Generated<Date>;
}

export interface ApiKeysTable {
  id: string;
  environment_id: string;
  /** SHA-256 hex of the whole secret key; the key itself is never stored. */
  key_hash: string;
  /** The first characters, for people to tell keys apart in listings. */
  key_prefix: string;
  /** The key encrypted under the master secret (AES-256-GCM), to verify the JWTs it signed. */
  key_ciphertext: string | null;
  created_at: Generated<Date>;
  revoked_at: NullableTimestamp;
}

export interface SettingsTable {
  name: string;
  value: string;
}

export interface QueuesTable {
  environment_id: string;
  name: string;
  concurrency_limit: number | null;
  paused: Generated<boolean>;
  created_at: Generated<Date>;
  /** When a dequeue last took runs from it: dequeues serve the least recently served first. */
  last_dequeued_at: NullableTimestamp;
}

export interface WorkersTable {
  id: string;
  environment_id: string;
  tasks: ColumnType<string[], string[], string[]>;
  registered_at: Generated<Date>;
  last_seen_at: Generated<Date>;
  /** The worker's current presence stream (see server/queue/presence.ts). */
  connection_id: string | null;
  /** When the server saw that stream close; null while it is open (or never opened). */
  disconnected_at: Date | null;
}

export interface BatchesTable {
  id: string;
  environment_id: string;
  status: string;
  run_count: number;
  /** Distinct indexes received so far (runs or item errors). */
  enqueued_count: Generated<number>;
  sealed: Generated<boolean>;
  idempotency_key: string | null;
  request_idempotency_key: string | null;
  parent_run_id: string | null;
  resume_parent_on_completion: Generated<boolean>;
  successful_run_count: number | null;
  failed_run_count: number | null;
  /** Items whose run is in a final state (see finalize.ts). */
  finished_item_count: Generated<number>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
  sealed_at: NullableTimestamp;
  processing_completed_at: NullableTimestamp;
  completed_at: NullableTimestamp;
}

/** What became of each index of a batch: a run (new or an idempotent hit), or an error. */
export interface BatchItemsTable {
  batch_id: string;
  batch_index: number;
  task_identifier: string;
  run_id: string | null;
  /** The item resolved to a run its batch did not create at its index (idempotency key). */
  cached: Generated<boolean>;
  error: string | null;
  error_code: string | null;
}

/** Batches whose row retention deleted and whose ledger items and events are still being deleted. */
export interface BatchDeletionsTable {
  batch_id: string;
  environment_id: string;
  queued_at: Generated<Date>;
}

export interface RunsTable {
  id: string;
  environment_id: string;
  task_identifier: string;
  status: string;
  payload: string | null;
  payload_type: string;
  queue: string;
  concurrency_key: string | null;
  idempotency_key: string | null;
  idempotency_key_expires_at: NullableTimestamp;
  tags: ColumnType<string[], string[] | undefined, string[]>;
  metadata: Json;
  ttl_seconds: number | null;
  delay_until: NullableTimestamp;
  expires_at: NullableTimestamp;
  /** When a REATTEMPTING run becomes QUEUED again (exponential backoff). */
  retry_at: NullableTimestamp;
  attempt: Generated<number>;
  max_attempts: number | null;
  batch_id: string | null;
  batch_index: number | null;
  parent_run_id: string | null;
  resume_parent_on_completion: Generated<boolean>;
  trigger_function: string;
  is_test: Generated<boolean>;
  lease_owner: string | null;
  lease_expires_at: NullableTimestamp;
  /** Set anew at each claim: what a worker's reports, heartbeats and releases name. */
  claim_id: string | null;
  output: string | null;
  output_type: string | null;
  error: Json;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
  started_at: NullableTimestamp;
  finished_at: NullableTimestamp;
  expired_at: NullableTimestamp;
  /** The SDK's `x-trigger-request-idempotency-key` of the single trigger that made this run. */
  request_idempotency_key: string | null;
}

/** Append-only outbox: one row per state change, written in the transaction that made it. */
export interface EventsTable {
  id: Generated<string>; // bigserial, read back as a string by pg
  environment_id: string;
  batch_id: string | null;
  run_id: string | null;
  type: string;
  data: Json;
  created_at: Generated<Date>;
  /** The writing transaction's id (xid8, as text): with `id`, the order subscriptions read in. */
  tx_id: Generated<string>;
}

/** An offloaded payload, uploaded through a signed URL (db/migrations/0005_packets.ts). */
export interface PacketsTable {
  environment_id: string;
  path: string;
  content_type: string;
  data: Uint8Array;
  size: number;
  created_at: Generated<Date>;
}

/** One-time-use public tokens already used (db/migrations/0014_used_tokens.ts). */
export interface UsedTokensTable {
  token_hash: string;
  expires_at: Date;
  used_at: Generated<Date>;
}

/** Per-environment batch rate limit, replacing the configured default (see server/limits). */
export interface EnvironmentLimitsTable {
  environment_id: string;
  batch_rate_limit_max: number;
  batch_rate_limit_refill: number;
  batch_rate_limit_interval_ms: number;
  updated_at: Generated<Date>;
}

export interface Database {
  environments: EnvironmentsTable;
  api_keys: ApiKeysTable;
  queues: QueuesTable;
  batches: BatchesTable;
  environment_limits: EnvironmentLimitsTable;
  batch_items: BatchItemsTable;
  batch_deletions: BatchDeletionsTable;
  runs: RunsTable;
  events: EventsTable;
  settings: SettingsTable;
  packets: PacketsTable;
  used_tokens: UsedTokensTable;
  workers: WorkersTable;
}

export type BatchRow = Selectable<BatchesTable>;
export type RunRow = Selectable<RunsTable>;
export type NewRun = Insertable<RunsTable>;
