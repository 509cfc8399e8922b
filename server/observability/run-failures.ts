import type { Log } from "./log.js";

/** A run a transaction moved (lifecycle/record.ts `TransitionedRun`), as its failure line needs it. */
interface MovedRun {
  id: string;
  batch_id: string | null;
  task_identifier: string;
  status: string;
  attempt: number;
}

/** Longest error text a failure line carries: the run's record keeps the whole error. */
const MAX_ERROR_CHARS = 500;

/**
 * One `warn` line per failed execution, once its transaction committed: `run failed, will retry`
 * (REATTEMPTING) or `run failed` (FAILED, final), with the run, task and batch ids, the attempt,
 * and the error (`errorOf` the run, e.g. what the worker reported, or why the server failed it).
 * Runs that did not fail (completed, released) are skipped, so callers pass all they moved.
 */
export function logRunFailures(
  log: Log,
  runs: readonly MovedRun[],
  errorOf: (runId: string) => { name?: string; message?: string } | undefined,
): void {
  for (const run of runs) {
    if (run.status !== "FAILED" && run.status !== "REATTEMPTING") continue;
    const error = errorOf(run.id);
    const text = error ? `${error.name ?? "Error"}: ${error.message ?? ""}`.slice(0, MAX_ERROR_CHARS) : undefined;
    log.warn(
      {
        runId: run.id,
        task: run.task_identifier,
        batchId: run.batch_id ?? undefined,
        attempt: run.attempt,
        status: run.status,
        ...(text !== undefined ? { error: text } : {}),
      },
      run.status === "REATTEMPTING" ? "run failed, will retry" : "run failed",
    );
  }
}
