import {
  CompleteRunInputSchema,
  DequeueInputSchema,
  FailRunInputSchema,
  HeartbeatInputSchema,
  RegisterWorkerInputSchema,
  ReleaseRunsInputSchema,
} from "../../../shared/worker.js";
import { completeRun, dequeue, failRun, heartbeat, registerWorker, releaseRuns } from "../../queue/worker-ops.js";
import { authedProcedure, router } from "../init.js";

/** What workers call: claim runs, keep their leases, report outcomes, give runs back. */
export const workerRouter = router({
  register: authedProcedure.input(RegisterWorkerInputSchema).mutation(({ ctx, input }) => registerWorker(ctx.deps, ctx.environment, input)),
  dequeue: authedProcedure
    .input(DequeueInputSchema)
    .mutation(({ ctx, input, signal }) => dequeue(ctx.deps, ctx.environment, input, signal)),
  heartbeat: authedProcedure.input(HeartbeatInputSchema).mutation(({ ctx, input }) => heartbeat(ctx.deps, ctx.environment, input)),
  complete: authedProcedure.input(CompleteRunInputSchema).mutation(({ ctx, input }) => completeRun(ctx.deps, ctx.environment, input)),
  fail: authedProcedure.input(FailRunInputSchema).mutation(({ ctx, input }) => failRun(ctx.deps, ctx.environment, input)),
  release: authedProcedure.input(ReleaseRunsInputSchema).mutation(({ ctx, input }) => releaseRuns(ctx.deps, ctx.environment, input)),
});
