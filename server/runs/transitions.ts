import type { Transaction } from "kysely";
import type { Database } from "../../db/schema.js";
import { FINAL_RUN_STATUSES, type RunStatus } from "../../shared/schemas.js";
import { countFinishedRuns } from "../batches/finalize.js";
import { appendEvents } from "../events/outbox.js";

/** The columns a transition returns so it can be recorded. */
export const TRANSITION_COLUMNS = ["id", "environment_id", "batch_id", "task_identifier", "status", "attempt"] as const;

export interface TransitionedRun {
  id: string;
  environment_id: string;
  batch_id: string | null;
  task_identifier: string;
  status: string;
  attempt: number;
}

/**
 * Records runs that just changed state, in the transaction that changed them: one `run.status`
 * event each, and for those now final, their batches' completion bookkeeping. Answers how many
 * waiting parents that queued again (the caller wakes workers after commit).
 */
export async function recordTransitions(
  trx: Transaction<Database>,
  runs: TransitionedRun[],
  now: Date,
): Promise<{ resumedParents: number }> {
  if (runs.length === 0) return { resumedParents: 0 };
  await appendEvents(
    trx,
    runs.map((r) => ({
      environment_id: r.environment_id,
      batch_id: r.batch_id,
      run_id: r.id,
      type: "run.status",
      data: JSON.stringify({ status: r.status, taskIdentifier: r.task_identifier, attempt: r.attempt }),
    })),
  );
  const finished = runs.filter((r) => FINAL_RUN_STATUSES.includes(r.status as RunStatus)).map((r) => r.id);
  return countFinishedRuns(trx, finished, now);
}

/** Exponential backoff before attempt `attempt + 1`, with ±20 % jitter so retries spread out. */
export function retryDelayMs(attempt: number, baseMs: number, maxMs: number): number {
  const exponential = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exponential * (0.8 + Math.random() * 0.4));
}
