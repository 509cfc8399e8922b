import { UpdateQueueInputSchema } from "../../../shared/worker.js";
import { listQueues, updateQueue } from "../../queue/queues.js";
import { authedProcedure, router } from "../init.js";

export const queueRouter = router({
  update: authedProcedure
    .input(UpdateQueueInputSchema)
    .mutation(({ ctx, input }) => updateQueue(ctx.deps, ctx.environment, input)),
  list: authedProcedure.query(({ ctx }) => listQueues(ctx.deps, ctx.environment)),
});
