import { z } from "zod";
import { ListRunsInputSchema, ListRunsResultSchema, RunSchema } from "../../../shared/schemas.js";
import { cancelRun } from "../../runs/cancel.js";
import { getRun, listRuns } from "../../runs/queries.js";
import { assertCanRead } from "../../auth/scopes.js";
import { authedProcedure, readerProcedure, router } from "../init.js";

export const runRouter = router({
  // Public access tokens may read a run their scopes cover (its id, task, a tag, or its batch).
  get: readerProcedure
    .input(z.object({ runId: z.string().min(1) }))
    .output(RunSchema)
    .query(async ({ ctx, input }) => {
      const run = await getRun(ctx.deps, ctx.environment, input.runId);
      assertCanRead(ctx.caller, { kind: "run", runId: run.id, taskIdentifier: run.taskIdentifier, tags: run.tags, batchId: run.batchId });
      return run;
    }),

  list: authedProcedure
    .input(ListRunsInputSchema)
    .output(ListRunsResultSchema)
    .query(({ ctx, input }) => listRuns(ctx.deps, ctx.environment, input)),

  cancel: authedProcedure
    .input(z.object({ runId: z.string().min(1) }))
    .mutation(({ ctx, input }) => cancelRun(ctx.deps, ctx.environment, input.runId)),
});
