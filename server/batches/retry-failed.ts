import type { AuthenticatedEnvironment } from "../auth/authenticate.js";
import type { Deps } from "../deps.js";
import { ownRunIds } from "../runs/own-runs.js";
import { replayRun } from "../runs/replay.js";
import { assertBatchOfEnvironment } from "./queries.js";

/** The statuses a retry replays: the run ended without an output (a cancel was deliberate). */
const RETRIED_STATUSES = ["FAILED", "CRASHED", "SYSTEM_FAILURE", "TIMED_OUT", "EXPIRED"];

/**
 * Replays each run the batch created that failed (`run.replay`: same task, payload and options),
 * in index order. The replays are runs of their own; the batch keeps its results as they are.
 */
export async function retryFailedRuns(
  deps: Deps,
  environment: AuthenticatedEnvironment,
  batchId: string,
): Promise<{ id: string; replays: { runId: string; replayId: string }[] }> {
  await assertBatchOfEnvironment(deps.db, environment, batchId);
  const failed = await deps.db
    .selectFrom("runs")
    .select("id")
    .where("environment_id", "=", environment.id)
    .where("id", "in", ownRunIds(deps.db, batchId))
    .where("status", "in", RETRIED_STATUSES)
    .orderBy("batch_index")
    .execute();
  const replays: { runId: string; replayId: string }[] = [];
  for (const { id } of failed) {
    const replay = await replayRun(deps, environment, { runId: id });
    replays.push({ runId: id, replayId: replay.id });
  }
  return { id: batchId, replays };
}
