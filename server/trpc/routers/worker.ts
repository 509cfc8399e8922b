import {
  CompleteRunInputSchema,
  DequeueInputSchema,
  FailRunInputSchema,
  HeartbeatInputSchema,
  PresenceInputSchema,
  RegisterWorkerInputSchema,
  ReleaseRunsInputSchema,
  ReportOutcomesInputSchema,
} from "../../../shared/worker.js";
import { completeRun, dequeue, failRun, heartbeat, registerWorker, releaseRuns, reportOutcomes } from "../../queue/worker-ops.js";
import { authedProcedure, router } from "../init.js";

/** What workers call: claim runs, keep their leases, report outcomes, give runs back, stay present. */
export const workerRouter = router({
  register: authedProcedure.input(RegisterWorkerInputSchema).mutation(({ ctx, input }) => registerWorker(ctx.deps, ctx.environment, input)),
  dequeue: authedProcedure
    .input(DequeueInputSchema)
    .mutation(({ ctx, input, signal }) => dequeue(ctx.deps, ctx.environment, input, signal)),
  // Never yields: the open stream is the message (see queue/presence.ts).
  presence: authedProcedure
    .input(PresenceInputSchema)
    .subscription(({ ctx, input, signal }) => ctx.deps.presence.hold(ctx.deps.db, ctx.environment.id, input.workerId, signal)),
  heartbeat: authedProcedure.input(HeartbeatInputSchema).mutation(({ ctx, input }) => heartbeat(ctx.deps, ctx.environment, input)),
  complete: authedProcedure.input(CompleteRunInputSchema).mutation(({ ctx, input }) => completeRun(ctx.deps, ctx.environment, input)),
  fail: authedProcedure.input(FailRunInputSchema).mutation(({ ctx, input }) => failRun(ctx.deps, ctx.environment, input)),
  report: authedProcedure.input(ReportOutcomesInputSchema).mutation(({ ctx, input }) => reportOutcomes(ctx.deps, ctx.environment, input)),
  release: authedProcedure.input(ReleaseRunsInputSchema).mutation(({ ctx, input }) => releaseRuns(ctx.deps, ctx.environment, input)),
});
