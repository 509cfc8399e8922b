import type { BatchStatus, RunStatus } from "./schemas.js";

/**
 * What live-status subscriptions yield (`batch.watch`, `run.watch`, `batch.watchAll`,
 * `run.watchAll`). Each message is sent as `tracked(id, message)`: the id is an opaque event
 * position (`"<tx>:<seq>"`), that of the message's last event; pass the last one you saw as
 * `lastEventId` to resume right after it. Events that became readable together (one transaction,
 * one wake-up) travel in one message, in order, at most a few hundred at a time: a 1,000-run
 * batch created in two chunks is two messages, not a thousand.
 */

/** One row of the event outbox. `type` is open-ended: `batch.status`, `run.created`, `runs.created`, `run.status`... */
export interface LiveEvent {
  id: string;
  type: string;
  batchId?: string;
  runId?: string;
  data: Record<string, unknown>;
  createdAt: Date;
}

/**
 * Runs of one task that have waited in `QUEUED` longer than the server's `SALVO_UNSERVED_AFTER_MS`
 * while no connected worker serves that task: start a worker that exports it.
 */
export interface UnservedTask {
  task: string;
  /** Of this batch's runs, how many are queued for that task (and have waited that long). */
  queued: number;
  /** When the longest-waiting of them was queued. */
  since: Date;
}

/**
 * A batch as read right after the event it accompanies: always at least as new as the event, so
 * the last progress a subscriber received is exact, whatever events were summarized.
 */
export interface BatchProgress {
  id: string;
  status: BatchStatus;
  sealed: boolean;
  /** Items the batch expects. */
  runCount: number;
  /** Distinct item indexes received so far (runs or item errors). */
  enqueuedCount: number;
  /** Set once sealed: items that became runs / that could not. */
  successfulRunCount?: number;
  failedRunCount?: number;
  /**
   * Its runs by status. In a batch of 10,000 runs or more these counts may be up to a second old
   * until the batch is final (counting them is a scan); a final batch's are exact.
   */
  runs: {
    /** Runs the batch's items resolved to (idempotent hits included). */
    total: number;
    /** Runs in a final status. */
    finished: number;
    /** Runs in a final status other than COMPLETED. */
    failed: number;
    byStatus: Partial<Record<RunStatus, number>>;
  };
  /** COMPLETED or ABORTED: nothing more will happen to this batch. */
  final: boolean;
  /** Tasks of this batch whose queued runs no worker serves (see `UnservedTask`); absent when none. */
  unserved?: UnservedTask[];
  updatedAt: Date;
}

export interface RunState {
  id: string;
  status: RunStatus;
  taskIdentifier: string;
  attempt: number;
  tags: string[];
  batchId?: string;
  batchIndex?: number;
  /** In a final status: nothing more will happen to this run. */
  final: boolean;
  updatedAt: Date;
}

/** `batch.watch`: a snapshot first (unless resuming), then the batch's events with its progress after them. */
export type BatchWatchMessage =
  | { kind: "snapshot"; batch: BatchProgress }
  | { kind: "events"; events: LiveEvent[]; batch: BatchProgress };

/** `run.watch`: a snapshot first (unless resuming), then the run's events with its state after them. */
export type RunWatchMessage =
  | { kind: "snapshot"; run: RunState }
  | { kind: "events"; events: LiveEvent[]; run?: RunState };

/** `batch.watchAll`: events of the environment's batches, with each batch's progress after them. */
export interface AllBatchesMessage {
  kind: "events";
  events: LiveEvent[];
  batches: Record<string, BatchProgress>;
}

/** `run.watchAll`: events of the environment's runs, with each run's state after them. */
export interface AllRunsMessage {
  kind: "events";
  events: LiveEvent[];
  runs: Record<string, RunState>;
}

export const FINAL_BATCH_STATUSES: readonly BatchStatus[] = ["COMPLETED", "ABORTED"];
