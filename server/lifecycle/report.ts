import { sql, type Transaction } from "kysely";
import type { Database } from "../../db/schema.js";
import { countFinishedRuns } from "./batch-completion.js";
import { type CompletedRun, completeRuns } from "./complete.js";
import { type RetryPolicy, retryOrFail } from "./fail.js";
import { type ClaimRef, heldClaims } from "./held-claims.js";
import type { TransitionedRun } from "./record.js";

/** A failure a worker reports for a claim: the error it stores, and whether it may be retried (default yes). */
export interface ReportedFailure extends ClaimRef {
  error: unknown;
  retry?: boolean;
}

export interface WorkerReport {
  completed: CompletedRun[];
  failed: ReportedFailure[];
}

/**
 * Records what a worker's handlers did, many runs in one transaction: COMPLETED with the output;
 * for a failure, retry-or-fail (`fail.ts`). Only the claim holding a run's lease may finish it: a
 * late report from a lost lease or an earlier attempt (or for a canceled run) is not accepted.
 * The runs that became final are counted towards their batches once, after both (one counting
 * statement per report, see `countFinishedRuns`). Answers the runs it changed.
 */
export async function recordReport(
  trx: Transaction<Database>,
  environmentId: string,
  workerId: string,
  report: WorkerReport,
  policy: RetryPolicy,
  now: Date,
): Promise<TransitionedRun[]> {
  const failed = await failHeld(trx, environmentId, workerId, report.failed, policy, now);
  const completed = await completeRuns(trx, environmentId, workerId, report.completed, now);
  const changed = [...failed, ...completed];
  await countFinishedRuns(trx, changed, now);
  return changed;
}

/** The reported failures of claims the worker still holds, locked (`heldClaims`), then retried or failed. */
async function failHeld(
  trx: Transaction<Database>,
  environmentId: string,
  workerId: string,
  failed: ReportedFailure[],
  policy: RetryPolicy,
  now: Date,
): Promise<TransitionedRun[]> {
  if (failed.length === 0) return [];
  const { rows: held } = await sql<{
    id: string;
    attempt: number;
    max_attempts: number | null;
  }>`${heldClaims(environmentId, workerId, failed)}`.execute(trx);
  const byId = new Map(failed.map((f) => [f.runId, f]));
  return retryOrFail(
    trx,
    held.map((run) => {
      const failure = byId.get(run.id)!;
      return { ...run, error: JSON.stringify(failure.error), retry: failure.retry !== false };
    }),
    policy,
    now,
  );
}
