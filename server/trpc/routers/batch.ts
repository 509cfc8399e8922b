import { z } from "zod";
import {
  AppendItemsInputSchema,
  AppendItemsResultSchema,
  BatchSchema,
  BatchSummaryInputSchema,
  BatchSummaryResultSchema,
  CreateBatchInputSchema,
  CreateBatchResultSchema,
  ListBatchesInputSchema,
  ListBatchesResultSchema,
  ListBatchRunsInputSchema,
  ListBatchRunsResultSchema,
  TriggerBatchInputSchema,
  TriggerBatchResultSchema,
} from "../../../shared/schemas.js";
import { assertCanRead } from "../../auth/scopes.js";
import { appendItems } from "../../batches/append-items.js";
import { cancelBatch } from "../../batches/cancel.js";
import { createBatch } from "../../batches/create.js";
import { assertBatchOfEnvironment, getBatch, getBatchSummary, listBatches } from "../../batches/queries.js";
import { batchResults } from "../../batches/results.js";
import { retryFailedRuns } from "../../batches/retry-failed.js";
import { triggerBatch } from "../../batches/trigger.js";
import { watchAllBatches, watchBatch } from "../../events/watch.js";
import { listBatchRuns } from "../../runs/queries.js";
import { trackedWatch } from "../errors.js";
import { authedProcedure, readerProcedure, router } from "../init.js";

/** Resume point: tRPC fills it from Last-Event-ID when EventSource reconnects; clients may also pass it. */
const lastEventId = z.string().max(64).nullish();

export const batchRouter = router({
  create: authedProcedure
    .input(CreateBatchInputSchema)
    .output(CreateBatchResultSchema)
    .mutation(({ ctx, input }) => createBatch(ctx.deps, ctx.environment, input)),

  appendItems: authedProcedure
    .input(AppendItemsInputSchema)
    .output(AppendItemsResultSchema)
    .mutation(({ ctx, input }) => appendItems(ctx.deps, ctx.environment, input)),

  trigger: authedProcedure
    .input(TriggerBatchInputSchema)
    .output(TriggerBatchResultSchema)
    .mutation(({ ctx, input }) => triggerBatch(ctx.deps, ctx.environment, input)),

  // Public access tokens may read a batch their scopes cover (e.g. the x-trigger-jwt of its create).
  get: readerProcedure
    .input(z.object({ batchId: z.string().min(1) }))
    .output(BatchSchema)
    .query(async ({ ctx, input }) => {
      const batch = await getBatch(ctx.deps, ctx.environment, input.batchId);
      assertCanRead(ctx.caller, { kind: "batch", batchId: batch.id });
      return batch;
    }),

  /** A batch without its run ids, with its first item errors: for batches of any size. Secret key or a token that can read it. */
  summary: readerProcedure
    .input(BatchSummaryInputSchema)
    .output(BatchSummaryResultSchema)
    .query(async ({ ctx, input }) => {
      assertCanRead(ctx.caller, { kind: "batch", batchId: input.batchId });
      return getBatchSummary(ctx.deps, ctx.environment, input);
    }),

  /** A batch's runs in item order, a page at a time, whatever its size. Secret key or a token that can read the batch. */
  runs: readerProcedure
    .input(ListBatchRunsInputSchema)
    .output(ListBatchRunsResultSchema)
    .query(async ({ ctx, input }) => {
      assertCanRead(ctx.caller, { kind: "batch", batchId: input.batchId });
      await assertBatchOfEnvironment(ctx.deps.db, ctx.environment, input.batchId);
      return listBatchRuns(ctx.deps, ctx.environment, input);
    }),

  list: authedProcedure
    .input(ListBatchesInputSchema)
    .output(ListBatchesResultSchema)
    .query(({ ctx, input }) => listBatches(ctx.deps, ctx.environment, input)),

  results: authedProcedure
    .input(z.object({ batchId: z.string().min(1) }))
    .query(({ ctx, input }) => batchResults(ctx.deps, ctx.environment, input.batchId)),

  cancel: authedProcedure
    .input(z.object({ batchId: z.string().min(1) }))
    .mutation(({ ctx, input }) => cancelBatch(ctx.deps, ctx.environment, input.batchId)),

  /** Replays every run of the batch that failed (see `run.replay`); answers each failed run's replay. */
  retryFailed: authedProcedure
    .input(z.object({ batchId: z.string().min(1) }))
    .mutation(({ ctx, input }) => retryFailedRuns(ctx.deps, ctx.environment, input.batchId)),

  /** Live progress of one batch (SSE): a snapshot, then every change until it is final. Secret key or a token that can read the batch. */
  watch: readerProcedure
    .input(z.object({ batchId: z.string().min(1), lastEventId }))
    .subscription(async ({ ctx, input, signal }) =>
      trackedWatch(await watchBatch(ctx.deps, ctx.caller, input, signal ?? new AbortController().signal)),
    ),

  /** Every batch event of the environment (SSE). Secret key only. */
  watchAll: authedProcedure
    .input(z.object({ lastEventId }).optional())
    .subscription(async ({ ctx, input, signal }) =>
      trackedWatch(await watchAllBatches(ctx.deps, ctx.caller, input ?? {}, signal ?? new AbortController().signal)),
    ),
});
