import type { BatchResultsV1, BatchV1, BatchV2, CommonRunFields, RunListItem, RunV3 } from "../../shared/rest-api.js";
import type { Batch, Run, RunStatus, RunSummary } from "../../shared/schemas.js";
import { FINAL_RUN_STATUSES } from "../../shared/schemas.js";
import type { BatchResultItem } from "../../shared/worker.js";
import { STORE_TYPE, superJsonText, toJsonForm } from "../packets/codec.js";

/** `GET /api/v1/batches/{id}` as the seed documents it: absent fields are left out, never null. */
export function batchV1(batch: Batch): BatchV1 {
  return {
    id: batch.id,
    status: batch.status,
    ...(batch.idempotencyKey !== undefined ? { idempotencyKey: batch.idempotencyKey } : {}),
    createdAt: batch.createdAt,
    updatedAt: batch.updatedAt,
    runCount: batch.runCount,
    runs: batch.runs,
    ...(batch.successfulRunCount !== undefined ? { successfulRunCount: batch.successfulRunCount } : {}),
    ...(batch.failedRunCount !== undefined ? { failedRunCount: batch.failedRunCount } : {}),
    ...(batch.errors.length > 0
      ? {
          errors: batch.errors.map((e) => ({
            index: e.index,
            taskIdentifier: e.taskIdentifier,
            error: { message: e.error },
            ...(e.errorCode !== undefined ? { errorCode: e.errorCode } : {}),
          })),
        }
      : {}),
  };
}

/** `GET /api/v2/batches/{id}`, what the SDK's `batch.retrieve` parses (`RetrieveBatchV2Response`). */
export function batchV2(batch: Batch): BatchV2 {
  return {
    id: batch.id,
    status: batch.status,
    ...(batch.idempotencyKey !== undefined ? { idempotencyKey: batch.idempotencyKey } : {}),
    createdAt: batch.createdAt,
    updatedAt: batch.updatedAt,
    runCount: batch.runCount,
    runs: batch.runs,
    processing: {
      ...(batch.processingCompletedAt !== undefined ? { completedAt: batch.processingCompletedAt } : {}),
      errors: batch.errors,
    },
  };
}

const QUEUED: RunStatus[] = ["QUEUED", "DELAYED", "REATTEMPTING"];
const FAILED: RunStatus[] = ["FAILED", "CRASHED", "SYSTEM_FAILURE", "EXPIRED", "TIMED_OUT"];

/** The fields every run answer shares (Trigger.dev's `CommonRunFields`). */
function commonRunFields(run: RunSummary): CommonRunFields {
  const finished = FINAL_RUN_STATUSES.includes(run.status);
  return {
    id: run.id,
    // The SDK's enum has no REATTEMPTING: a run waiting for its next attempt is queued again.
    status: run.status === "REATTEMPTING" ? "QUEUED" : run.status,
    taskIdentifier: run.taskIdentifier,
    ...(run.idempotencyKey !== undefined ? { idempotencyKey: run.idempotencyKey } : {}),
    isQueued: QUEUED.includes(run.status),
    isExecuting: run.status === "EXECUTING",
    isWaiting: run.status === "WAITING",
    isCompleted: finished,
    isSuccess: run.status === "COMPLETED",
    isFailed: FAILED.includes(run.status),
    isCancelled: run.status === "CANCELED",
    isTest: run.isTest,
    createdAt: run.createdAt,
    updatedAt: run.updatedAt,
    ...(run.startedAt !== undefined ? { startedAt: run.startedAt } : {}),
    ...(run.finishedAt !== undefined ? { finishedAt: run.finishedAt } : {}),
    ...(run.delayedUntil !== undefined ? { delayedUntil: run.delayedUntil } : {}),
    ...(run.ttl !== undefined ? { ttl: run.ttl } : {}),
    ...(run.expiredAt !== undefined ? { expiredAt: run.expiredAt } : {}),
    tags: run.tags,
    costInCents: 0,
    baseCostInCents: 0,
    durationMs: run.startedAt && run.finishedAt ? run.finishedAt.getTime() - run.startedAt.getTime() : 0,
    ...(run.metadata !== undefined ? { metadata: run.metadata } : {}),
  };
}

/**
 * `GET /api/v3/runs/{id}`, what the SDK's `runs.retrieve` parses (`RetrieveRunResponse`).
 * `payload`/`output` are the decoded values in plain JSON, as Trigger.dev gives them; an offloaded
 * payload is only a `payloadPresignedUrl` (see `runPacketLinks` in rest/packets.ts).
 */
export function runV3(run: Run, links: { payloadPresignedUrl?: string; outputPresignedUrl?: string } = {}): RunV3 {
  const payload =
    run.payload !== undefined && run.payloadType !== STORE_TYPE ? toJsonForm(run.payload).json : undefined;
  const output = run.output !== undefined ? toJsonForm(run.output).json : undefined;
  return {
    ...commonRunFields(run),
    depth: run.parentRunId !== undefined ? 1 : 0,
    triggerFunction: run.triggerFunction,
    ...(run.batchId !== undefined ? { batchId: run.batchId } : {}),
    ...(payload !== undefined ? { payload } : {}),
    ...(links.payloadPresignedUrl !== undefined ? { payloadPresignedUrl: links.payloadPresignedUrl } : {}),
    ...(output !== undefined ? { output } : {}),
    ...(links.outputPresignedUrl !== undefined ? { outputPresignedUrl: links.outputPresignedUrl } : {}),
    ...(run.error !== undefined ? { error: run.error } : {}),
    relatedRuns: {},
    attemptCount: run.attemptCount,
  };
}

/** One run of `GET /api/v1/runs`, what the SDK's `runs.list` parses (`ListRunResponseItem`). */
export function runListItemV1(run: RunSummary, environment: { id: string; type: string }): RunListItem {
  return { ...commonRunFields(run), env: { id: environment.id, name: environment.type } };
}

/**
 * `GET /api/v1/batches/{id}/results`, Trigger.dev's `BatchTaskRunExecutionResult`: one entry per
 * finished run, in index order; output serialized with its type, errors as built-in errors.
 */
export function batchResultsV1(results: { id: string; items: BatchResultItem[] }): BatchResultsV1 {
  return {
    id: results.id,
    items: results.items
      .filter(
        (item): item is BatchResultItem & { runId: string } =>
          item.runId !== undefined && item.status !== undefined && FINAL_RUN_STATUSES.includes(item.status),
      )
      .map((item) =>
        item.ok
          ? {
              ok: true,
              id: item.runId,
              taskIdentifier: item.taskIdentifier,
              ...(item.output !== undefined ? { output: superJsonText(item.output) } : {}),
              outputType: "application/super+json",
            }
          : {
              ok: false,
              id: item.runId,
              taskIdentifier: item.taskIdentifier,
              error: {
                type: "BUILT_IN_ERROR",
                name: item.error?.name ?? "Error",
                message: item.error?.message ?? `Run ${item.status}`,
                stackTrace: item.error?.stackTrace ?? "",
              },
            },
      ),
  };
}
