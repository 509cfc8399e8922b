import { z } from "zod";
import { boundedArray } from "./bounded-array.js";
import { DelaySchema, MetadataSchema, TriggerOptionsSchema } from "./options.js";
import { BATCH_STATUSES, RUN_STATUSES } from "./statuses.js";

export const TaskIdentifierSchema = z
  .string({ error: (issue) => (issue.input === undefined ? "task is required" : "task must be a string") })
  .min(1, "task identifier must not be empty")
  .max(128, "task identifier is at most 128 characters");

export { BATCH_STATUSES, FINAL_RUN_STATUSES, RUN_STATUSES } from "./statuses.js";
export const RunStatusSchema = z.enum(RUN_STATUSES);
export type RunStatus = z.infer<typeof RunStatusSchema>;
export const BatchStatusSchema = z.enum(BATCH_STATUSES);
export type BatchStatus = z.infer<typeof BatchStatusSchema>;

/** One item of a batch: which task, with what payload and options. */
export const TaskItemSchema = z.object({
  task: TaskIdentifierSchema,
  payload: z.unknown().optional(),
  options: TriggerOptionsSchema.optional(),
});
export type TaskItemInput = z.input<typeof TaskItemSchema>;
export type TaskItem = z.output<typeof TaskItemSchema>;

/** An item of the two-phase API: a task item at a fixed position of the batch. */
export const IndexedItemSchema = TaskItemSchema.extend({ index: z.number().int().min(0) });
export type IndexedItem = z.output<typeof IndexedItemSchema>;

// ---- batch.create -----------------------------------------------------------------------------
export const CreateBatchInputSchema = z.object({
  runCount: z.number().int(),
  parentRunId: z.string().min(1).optional(),
  resumeParentOnCompletion: z.boolean().optional(),
  idempotencyKey: z.string().min(1).max(2048).optional(),
  /** The SDK's per-call retry key (`x-trigger-request-idempotency-key`): a replay gets the first answer. */
  requestIdempotencyKey: z.string().min(1).max(256).optional(),
});
export const CreateBatchResultSchema = z.object({
  id: z.string(),
  runCount: z.number().int(),
  isCached: z.boolean(),
  idempotencyKey: z.string().optional(),
});
export type CreateBatchResult = z.infer<typeof CreateBatchResultSchema>;

// ---- batch.appendItems ------------------------------------------------------------------------
export const AppendItemsInputSchema = z.object({
  batchId: z.string().min(1),
  items: boundedArray(IndexedItemSchema),
});
export const AppendItemsResultSchema = z.object({
  id: z.string(),
  itemsAccepted: z.number().int(),
  itemsDeduplicated: z.number().int(),
  sealed: z.boolean(),
  enqueuedCount: z.number().int().optional(),
  expectedCount: z.number().int().optional(),
});
export type AppendItemsResult = z.infer<typeof AppendItemsResultSchema>;

// ---- batch.trigger (one shot) -----------------------------------------------------------------
export const TriggerBatchInputSchema = z.object({
  items: boundedArray(TaskItemSchema),
  parentRunId: z.string().min(1).optional(),
  resumeParentOnCompletion: z.boolean().optional(),
  idempotencyKey: z.string().min(1).max(2048).optional(),
  /** The SDK's per-call retry key (`x-trigger-request-idempotency-key`): a replay gets the first answer. */
  requestIdempotencyKey: z.string().min(1).max(256).optional(),
});
export const TriggerBatchResultSchema = z.object({
  batchId: z.string(),
  runs: z.array(z.string()),
  isCached: z.boolean(),
});
export type TriggerBatchResult = z.infer<typeof TriggerBatchResultSchema>;

// ---- batch.get / batch.list -------------------------------------------------------------------
export const BatchItemErrorSchema = z.object({
  index: z.number().int(),
  taskIdentifier: z.string(),
  error: z.string(),
  errorCode: z.string().optional(),
});
export const BatchSchema = z.object({
  id: z.string(),
  status: BatchStatusSchema,
  idempotencyKey: z.string().optional(),
  createdAt: z.date(),
  updatedAt: z.date(),
  runCount: z.number().int(),
  sealed: z.boolean(),
  runs: z.array(z.string()),
  successfulRunCount: z.number().int().optional(),
  failedRunCount: z.number().int().optional(),
  errors: z.array(BatchItemErrorSchema),
  processingCompletedAt: z.date().optional(),
  completedAt: z.date().optional(),
  parentRunId: z.string().optional(),
  resumeParentOnCompletion: z.boolean(),
});
export type Batch = z.infer<typeof BatchSchema>;
export const BatchSummarySchema = BatchSchema.omit({ runs: true, errors: true }).extend({
  /**
   * Items whose run is in a final status: the batch's completion counter, so progress
   * (`finishedItemCount` of `successfulRunCount ?? runCount`) costs no count of its runs.
   */
  finishedItemCount: z.number().int(),
});
export type BatchSummary = z.infer<typeof BatchSummarySchema>;

/** `batch.summary`: a batch without its run ids (which a 100,000-run batch has 100,000 of) and the first item errors. */
export const BatchSummaryInputSchema = z.object({
  batchId: z.string().min(1),
  /** How many item errors to return, in index order. */
  errorLimit: z.number().int().min(0).max(100).default(20),
});
export const BatchSummaryResultSchema = BatchSummarySchema.extend({
  errors: z.array(BatchItemErrorSchema),
  /** All item errors of the batch, of which `errors` are the first. */
  errorCount: z.number().int(),
});
export type BatchSummaryResult = z.infer<typeof BatchSummaryResultSchema>;

export const PageInputSchema = z.object({
  limit: z.number().int().min(1).max(100).default(25),
  cursor: z.string().optional(),
});
export const ListBatchesInputSchema = PageInputSchema.extend({ status: BatchStatusSchema.optional() });
export const ListBatchesResultSchema = z.object({
  items: z.array(BatchSummarySchema),
  nextCursor: z.string().optional(),
});

// ---- runs -------------------------------------------------------------------------------------
export const TRIGGER_FUNCTIONS = ["trigger", "triggerAndWait", "batchTrigger", "batchTriggerAndWait"] as const;
export const SerializedErrorSchema = z.object({
  message: z.string().max(64 * 1024),
  name: z.string().max(1024).optional(),
  stackTrace: z
    .string()
    .max(64 * 1024)
    .optional(),
});
export const RunSchema = z.object({
  id: z.string(),
  status: RunStatusSchema,
  taskIdentifier: z.string(),
  payload: z.unknown(),
  payloadType: z.string(),
  output: z.unknown().optional(),
  error: SerializedErrorSchema.optional(),
  queue: z.string(),
  concurrencyKey: z.string().optional(),
  idempotencyKey: z.string().optional(),
  tags: z.array(z.string()),
  metadata: MetadataSchema.optional(),
  ttl: z.string().optional(),
  delayedUntil: z.date().optional(),
  expiredAt: z.date().optional(),
  attemptCount: z.number().int(),
  maxAttempts: z.number().int().optional(),
  batchId: z.string().optional(),
  batchIndex: z.number().int().optional(),
  parentRunId: z.string().optional(),
  triggerFunction: z.enum(TRIGGER_FUNCTIONS),
  isTest: z.boolean(),
  createdAt: z.date(),
  updatedAt: z.date(),
  startedAt: z.date().optional(),
  finishedAt: z.date().optional(),
});
export type Run = z.infer<typeof RunSchema>;
export const RunSummarySchema = RunSchema.omit({ payload: true, output: true });
export type RunSummary = z.infer<typeof RunSummarySchema>;

/**
 * `batch.runs`: a batch's runs in item order, `limit` item indexes a page, read along the ledger's
 * primary key, so a page costs the same in a batch of 100,000 runs as in one of ten. Items that
 * became no run (see `batch.summary`'s errors) are left out of their page.
 */
export const ListBatchRunsInputSchema = z.object({
  batchId: z.string().min(1),
  limit: z.number().int().min(1).max(100).default(25),
  /** The `nextCursor` of the page before. */
  cursor: z
    .string()
    .regex(/^\d{1,9}$/, "cursor must be the nextCursor of a batch.runs page")
    .optional(),
});
export const BatchRunSchema = RunSummarySchema.extend({
  /** The item of this batch the run answers (a run shared through an idempotency key keeps its own `batchIndex`). */
  index: z.number().int(),
});
export const ListBatchRunsResultSchema = z.object({
  items: z.array(BatchRunSchema),
  /** More items follow: pass it as `cursor`. */
  nextCursor: z.string().optional(),
});
export type BatchRun = z.infer<typeof BatchRunSchema>;

/** A filter naming one value or several (any of them matches). */
const oneOrMany = <T extends z.ZodType<string>>(value: T) => z.union([value, z.array(value).min(1).max(100)]);

export const ListRunsInputSchema = PageInputSchema.extend({
  status: oneOrMany(RunStatusSchema).optional(),
  taskIdentifier: oneOrMany(z.string().max(128)).optional(),
  batchId: z.string().optional(),
  /** Runs carrying any of these tags. */
  tag: oneOrMany(z.string().max(128)).optional(),
  queue: oneOrMany(z.string().max(128)).optional(),
  isTest: z.boolean().optional(),
  createdFrom: z.date().optional(),
  createdTo: z.date().optional(),
  /** The page of newer runs before this cursor (a `previousCursor`); `cursor` pages to older ones. */
  before: z.string().optional(),
});
export const ListRunsResultSchema = z.object({
  items: z.array(RunSummarySchema),
  /** Older runs follow: pass it as `cursor`. */
  nextCursor: z.string().optional(),
  /** Newer runs precede this page: pass it as `before`. */
  previousCursor: z.string().optional(),
});

/** `run.replay`: a new run of the run's task with its payload and options, any of them replaced. */
export const ReplayRunInputSchema = TriggerOptionsSchema.pick({
  concurrencyKey: true,
  idempotencyKey: true,
  idempotencyKeyTTL: true,
  ttl: true,
  delay: true,
  tags: true,
  metadata: true,
  maxAttempts: true,
  payloadType: true,
}).extend({
  runId: z.string().min(1),
  payload: z.unknown().optional(),
  /** A queue name (the original run's queue when absent). */
  queue: z.string().trim().min(1).max(128).optional(),
});
export type ReplayRunInput = z.output<typeof ReplayRunInputSchema>;

/** `run.reschedule`: a delayed run's new delay (a duration from now, or a date-time). */
export const RescheduleRunInputSchema = z.object({
  runId: z.string().min(1),
  delay: DelaySchema,
});

export const TriggerTaskInputSchema = TaskItemSchema.extend({
  /** The SDK's per-call retry key (`x-trigger-request-idempotency-key`): a replay gets the first run. */
  requestIdempotencyKey: z.string().min(1).max(256).optional(),
});
export const TriggerTaskResultSchema = z.object({ id: z.string(), isCached: z.boolean() });
export type TriggerTaskResult = z.infer<typeof TriggerTaskResultSchema>;
