import { pruneUsedTokens } from "./auth/tokens.js";
import type { BackgroundTask } from "./background.js";
import type { Deps } from "./deps.js";
import { pruneEvents } from "./events/retention.js";
import { expireRuns } from "./lifecycle/expire.js";
import { deleteExpired } from "./lifecycle/retention.js";
import { abortAllUnsealedBatches } from "./lifecycle/seal-timeout.js";
import { promoteDueRuns, reclaimLostRuns, sweep } from "./lifecycle/sweeps.js";
import { retentionDeleted } from "./observability/metrics.js";
import { logRunFailures } from "./observability/run-failures.js";

const sweepInterval = (deps: Deps) => deps.config.execution.sweepIntervalMs;

const promoteDueRunsTask: BackgroundTask = {
  name: "promote-due-runs",
  intervalMs: sweepInterval,
  run: async (deps) => void (await sweep(deps, promoteDueRuns)),
};

const expireRunsTask: BackgroundTask = {
  name: "expire-runs",
  intervalMs: sweepInterval,
  run: async (deps) => void (await sweep(deps, expireRuns)),
};

const WORKER_GONE = { name: "WorkerGone", message: "its worker stopped heartbeating or disconnected" };

/** Runs of a gone worker are retried or failed (lifecycle/sweeps.ts), each failure logged. */
export const reclaimExpiredLeases: BackgroundTask = {
  name: "reclaim-expired-leases",
  intervalMs: sweepInterval,
  run: async (deps) => {
    const moved = await sweep(deps, reclaimLostRuns(deps.config.execution));
    logRunFailures(deps.log, moved, () => WORKER_GONE);
  },
};

/** Checks a few times per timeout (at most once a minute, at least every 50 ms). */
const expireUnsealedBatches: BackgroundTask = {
  name: "expire-unsealed-batches",
  intervalMs: (deps) => Math.min(60_000, Math.max(50, Math.floor(deps.config.limits.batchSealTimeoutMs / 4))),
  run: abortAllUnsealedBatches,
};

const pruneEventsTask: BackgroundTask = {
  name: "prune-events",
  intervalMs: 10 * 60_000,
  run: async (deps) => void (await pruneEvents(deps)),
};

/**
 * Finished runs and final batches older than `SALVO_RUN_RETENTION` (server/lifecycle/retention.ts).
 * Every server runs it; each pass works in small SKIP LOCKED transactions, so several at once
 * share the backlog instead of waiting on each other.
 */
const runRetentionTask: BackgroundTask = {
  name: "run-retention",
  intervalMs: (deps) => deps.config.retention.intervalMs,
  run: async (deps) => {
    const { runMs } = deps.config.retention;
    if (runMs === 0) return;
    const deleted = await deleteExpired(deps.db, new Date(Date.now() - runMs), { signal: deps.closing });
    for (const [kind, n] of Object.entries(deleted)) if (n > 0) retentionDeleted.inc({ kind }, n);
    if (deleted.batches + deleted.runs > 0)
      deps.log.info({ retention: deleted }, "retention deleted old runs and batches");
  },
};

const pruneUsedTokensTask: BackgroundTask = {
  name: "prune-used-tokens",
  intervalMs: 10 * 60_000,
  run: async (deps) => void (await pruneUsedTokens(deps.db)),
};

import { reportUnservedRuns } from "./events/unserved.js";

/** Every periodic task the server runs. Each area adds its own here. */
export const BACKGROUND_TASKS: BackgroundTask[] = [
  promoteDueRunsTask,
  expireRunsTask,
  reclaimExpiredLeases,
  expireUnsealedBatches,
  pruneEventsTask,
  runRetentionTask,
  pruneUsedTokensTask,
  reportUnservedRuns,
];
