import { z } from "zod";
import { boundedArray } from "./bounded-array.js";
import { RunStatusSchema, SerializedErrorSchema, TaskIdentifierSchema } from "./schemas.js";

export const WorkerIdSchema = z.string().min(1).max(128);
const RunIdsSchema = boundedArray(z.string().min(1), { max: 1000 });

export const RegisterWorkerInputSchema = z.object({
  workerId: WorkerIdSchema,
  tasks: boundedArray(TaskIdentifierSchema, { min: 1, minMessage: "a worker serves at least one task", max: 1000 }),
});

/** A worker's presence stream (`worker.presence`): held open for as long as the worker runs. */
export const PresenceInputSchema = z.object({ workerId: WorkerIdSchema });

/**
 * The claim a report, heartbeat or release is about: each claim of a run (each attempt) gets its
 * own `claimId` (`ClaimedRun.claimId`), and only the current claim's report counts. Workers that
 * predate claim ids leave it out and are matched by worker id alone.
 */
const ClaimIdSchema = z.string().min(1).max(128);
const ClaimsSchema = z.array(z.object({ runId: z.string().min(1), claimId: ClaimIdSchema })).max(1000);

/** `claims` (current workers) and/or `runIds` (older ones); answers `lost` run ids and `lostClaims`. */
export const HeartbeatInputSchema = z.object({
  workerId: WorkerIdSchema,
  runIds: RunIdsSchema.default([]),
  claims: ClaimsSchema.default([]),
});

export const CompleteRunInputSchema = z.object({
  workerId: WorkerIdSchema,
  runId: z.string().min(1),
  claimId: ClaimIdSchema.optional(),
  output: z.unknown().optional(),
});

export const FailRunInputSchema = z.object({
  workerId: WorkerIdSchema,
  runId: z.string().min(1),
  claimId: ClaimIdSchema.optional(),
  error: SerializedErrorSchema,
  /** False when the handler asked not to be retried. */
  retry: z.boolean().optional(),
});

const CompletedOutcomesSchema = boundedArray(CompleteRunInputSchema.omit({ workerId: true }), { max: 1000 });
const FailedOutcomesSchema = boundedArray(FailRunInputSchema.omit({ workerId: true }), { max: 1000 });

/** Many outcomes in one call (and one transaction): how a worker reports while it waits for work. */
export const ReportOutcomesInputSchema = z.object({
  workerId: WorkerIdSchema,
  completed: CompletedOutcomesSchema,
  failed: FailedOutcomesSchema,
});

export const DequeueInputSchema = z.object({
  workerId: WorkerIdSchema,
  tasks: boundedArray(TaskIdentifierSchema, { min: 1, max: 1000 }),
  /** Most runs to hand over at once. */
  max: z.number().int().min(1).max(1000).default(1),
  /** How long to wait for work when there is none (bounded by the server). */
  waitMs: z.number().int().min(0).max(60_000).default(0),
  /**
   * Outcomes to record first, as `worker.report` would, in the claim's transaction: a busy worker
   * reports the runs it finished and claims their successors in one round trip. They are
   * committed before the dequeue waits for work.
   */
  completed: CompletedOutcomesSchema.default([]),
  failed: FailedOutcomesSchema.default([]),
});

export const ReleaseRunsInputSchema = z.object({
  workerId: WorkerIdSchema,
  runIds: RunIdsSchema.default([]),
  claims: ClaimsSchema.default([]),
});

export const UpdateQueueInputSchema = z.object({
  name: z.string().min(1).max(128),
  concurrencyLimit: z.number().int().min(0).max(1000).nullable().optional(),
  paused: z.boolean().optional(),
});

export const BatchResultItemSchema = z.object({
  index: z.number().int(),
  taskIdentifier: z.string(),
  runId: z.string().optional(),
  status: RunStatusSchema.optional(),
  ok: z.boolean(),
  output: z.unknown().optional(),
  error: SerializedErrorSchema.optional(),
});
export type BatchResultItem = z.infer<typeof BatchResultItemSchema>;

/** A run as a worker receives it from `worker.dequeue`: the payload already decoded. */
export interface ClaimedRun {
  id: string;
  taskIdentifier: string;
  payload: unknown;
  payloadType: string;
  attempt: number;
  maxAttempts: number;
  queue: string;
  concurrencyKey?: string;
  tags: string[];
  metadata?: Record<string, unknown>;
  batchId?: string;
  batchIndex?: number;
  parentRunId?: string;
  leaseExpiresAt: Date;
  /** This claim of the run (this attempt): what reports, heartbeats and releases name. */
  claimId: string;
}
