import { z } from "zod";
import {
  ListRunsInputSchema,
  ListRunsResultSchema,
  ReplayRunInputSchema,
  RescheduleRunInputSchema,
  RunSchema,
  TriggerTaskResultSchema,
} from "../../../shared/schemas.js";
import { assertCanRead } from "../../auth/scopes.js";
import { watchAllRuns, watchRun } from "../../events/watch.js";
import { cancelRun } from "../../runs/cancel.js";
import { getRun, listRuns } from "../../runs/queries.js";
import { replayRun } from "../../runs/replay.js";
import { rescheduleRun } from "../../runs/reschedule.js";
import { trackedWatch } from "../errors.js";
import { authedProcedure, readerProcedure, router } from "../init.js";

/** Resume point: tRPC fills it from Last-Event-ID when EventSource reconnects; clients may also pass it. */
const lastEventId = z.string().max(64).nullish();

export const runRouter = router({
  // Public access tokens may read a run their scopes cover (its id, task, a tag, or its batch).
  get: readerProcedure
    .input(z.object({ runId: z.string().min(1) }))
    .output(RunSchema)
    .query(async ({ ctx, input }) => {
      const run = await getRun(ctx.deps, ctx.environment, input.runId);
      assertCanRead(ctx.caller, {
        kind: "run",
        runId: run.id,
        taskIdentifier: run.taskIdentifier,
        tags: run.tags,
        batchId: run.batchId,
      });
      return run;
    }),

  list: authedProcedure
    .input(ListRunsInputSchema)
    .output(ListRunsResultSchema)
    .query(({ ctx, input }) => listRuns(ctx.deps, ctx.environment, input)),

  cancel: authedProcedure
    .input(z.object({ runId: z.string().min(1) }))
    .mutation(({ ctx, input }) => cancelRun(ctx.deps, ctx.environment, input.runId)),

  /** A new run of the run's task with its payload and options (any of them replaced by the input). */
  replay: authedProcedure
    .input(ReplayRunInputSchema)
    .output(TriggerTaskResultSchema)
    .mutation(({ ctx, input }) => replayRun(ctx.deps, ctx.environment, input)),

  /** A DELAYED run's new start: a delay from now ("1h") or a date-time. */
  reschedule: authedProcedure
    .input(RescheduleRunInputSchema)
    .mutation(({ ctx, input }) => rescheduleRun(ctx.deps, ctx.environment, input)),

  /** Live state of one run (SSE): a snapshot, then every change until it is final. Secret key or a token that can read the run. */
  watch: readerProcedure
    .input(z.object({ runId: z.string().min(1), lastEventId }))
    .subscription(async ({ ctx, input, signal }) =>
      trackedWatch(await watchRun(ctx.deps, ctx.caller, input, signal ?? new AbortController().signal)),
    ),

  /** Every per-run event of the environment (SSE), optionally filtered by task, tag or batch. Secret key only. */
  watchAll: authedProcedure
    .input(
      z
        .object({
          taskIdentifier: z.string().min(1).optional(),
          tag: z.string().min(1).optional(),
          batchId: z.string().min(1).optional(),
          lastEventId,
        })
        .optional(),
    )
    .subscription(async ({ ctx, input, signal }) =>
      trackedWatch(await watchAllRuns(ctx.deps, ctx.caller, input ?? {}, signal ?? new AbortController().signal)),
    ),
});
