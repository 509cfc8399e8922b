import { pruneUsedTokensTask } from "./auth/tokens.js";
import type { BackgroundTask } from "./background.js";
import { pruneEventsTask } from "./events/retention.js";
import { expireUnsealedBatches } from "./limits/seal-timeout.js";
import { EXECUTION_TASKS } from "./queue/sweeps.js";
import { reportUnservedRuns } from "./queue/unserved.js";

/** Every periodic task the server runs. Each area adds its own here. */
export const BACKGROUND_TASKS: BackgroundTask[] = [
  ...EXECUTION_TASKS,
  expireUnsealedBatches,
  pruneEventsTask,
  pruneUsedTokensTask,
  reportUnservedRuns,
];
