import { z } from "zod";
import { ListRunsInputSchema, ListRunsResultSchema, RunSchema } from "../../../shared/schemas.js";
import { cancelRun } from "../../runs/cancel.js";
import { getRun, listRuns } from "../../runs/queries.js";
import { authedProcedure, router } from "../init.js";

export const runRouter = router({
  get: authedProcedure
    .input(z.object({ runId: z.string().min(1) }))
    .output(RunSchema)
    .query(({ ctx, input }) => getRun(ctx.deps, ctx.environment, input.runId)),

  list: authedProcedure
    .input(ListRunsInputSchema)
    .output(ListRunsResultSchema)
    .query(({ ctx, input }) => listRuns(ctx.deps, ctx.environment, input)),

  cancel: authedProcedure
    .input(z.object({ runId: z.string().min(1) }))
    .mutation(({ ctx, input }) => cancelRun(ctx.deps, ctx.environment, input.runId)),
});
