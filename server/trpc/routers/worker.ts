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
import {
  completeRun,
  dequeue,
  failRun,
  heartbeat,
  registerWorker,
  releaseRuns,
  reportOutcomes,
} from "../../queue/worker-ops.js";
import { router, workerProcedure } from "../init.js";

/** What workers call: claim runs, keep their leases, report outcomes, give runs back, stay present. */
export const workerRouter = router({
  register: workerProcedure
    .input(RegisterWorkerInputSchema)
    .mutation(({ ctx, input }) => registerWorker(ctx.deps, ctx.environment, input)),
  dequeue: workerProcedure
    .input(DequeueInputSchema)
    .mutation(({ ctx, input, signal }) => dequeue(ctx.deps, ctx.environment, input, signal)),
  // Never yields: the open stream is the message (see queue/presence.ts).
  presence: workerProcedure
    .input(PresenceInputSchema)
    .subscription(({ ctx, input, signal }) =>
      ctx.deps.presence.hold(ctx.deps.db, ctx.environment.id, input.workerId, signal),
    ),
  heartbeat: workerProcedure
    .input(HeartbeatInputSchema)
    .mutation(({ ctx, input }) => heartbeat(ctx.deps, ctx.environment, input)),
  complete: workerProcedure
    .input(CompleteRunInputSchema)
    .mutation(({ ctx, input }) => completeRun(ctx.deps, ctx.environment, input)),
  fail: workerProcedure
    .input(FailRunInputSchema)
    .mutation(({ ctx, input }) => failRun(ctx.deps, ctx.environment, input)),
  report: workerProcedure
    .input(ReportOutcomesInputSchema)
    .mutation(({ ctx, input }) => reportOutcomes(ctx.deps, ctx.environment, input)),
  release: workerProcedure
    .input(ReleaseRunsInputSchema)
    .mutation(({ ctx, input }) => releaseRuns(ctx.deps, ctx.environment, input)),
});
