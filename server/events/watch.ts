import {
  type AllBatchesMessage,
  type AllRunsMessage,
  type BatchWatchMessage,
  FINAL_BATCH_STATUSES,
  FINAL_RUN_STATUSES,
  type LiveEvent,
  type RunWatchMessage,
} from "../../shared/index.js";
import type { BatchStatus, RunStatus } from "../../shared/schemas.js";
import type { Caller } from "../auth/authenticate.js";
import { canRead } from "../auth/scopes.js";
import type { Deps } from "../deps.js";
import { badRequest, forbidden, notFound } from "../errors.js";
import type { LiveItem } from "./enrich.js";
import { type Position, parsePosition } from "./position.js";
import { readBatchProgress, readRunStates } from "./snapshots.js";
import { watchEvents } from "./watch-loop.js";

/** `lastEventId` as sent by the client (or by EventSource's Last-Event-ID): a 400 if it is not ours. */
function resumeFrom(lastEventId: string | null | undefined): Position | undefined {
  if (lastEventId === undefined || lastEventId === null || lastEventId === "") return undefined;
  const position = parsePosition(lastEventId);
  if (!position)
    throw badRequest(
      `lastEventId "${lastEventId.slice(0, 64)}" is not an event id from this server (expected "<tx>:<id>")`,
    );
  return position;
}

/** The feed hands the same item to every local subscriber: build its public form once. */
const publicForms = new WeakMap<LiveItem, LiveEvent>();
function liveEvent(item: LiveItem): LiveEvent {
  let event = publicForms.get(item);
  if (!event) {
    event = {
      id: item.id,
      type: item.type,
      ...(item.batchId !== null ? { batchId: item.batchId } : {}),
      ...(item.runId !== null ? { runId: item.runId } : {}),
      data: item.data,
      createdAt: item.createdAt,
    };
    publicForms.set(item, event);
  }
  return event;
}

const endsBatch = (item: LiveItem) =>
  item.type === "batch.status" && FINAL_BATCH_STATUSES.includes(item.data.status as BatchStatus);
const endsRun = (item: LiveItem) =>
  item.type === "run.status" && FINAL_RUN_STATUSES.includes(item.data.status as RunStatus);

const mayNotRead = (what: string) => forbidden(`This public access token may not read ${what}`);

/** One batch: its progress now, then each of its events with its progress after it, until it is final. */
export async function watchBatch(
  deps: Deps,
  caller: Caller,
  input: { batchId: string; lastEventId?: string | null },
  signal: AbortSignal,
) {
  const environmentId = caller.environment.id;
  const after = resumeFrom(input.lastEventId);
  const progress = async () =>
    (
      await readBatchProgress(deps.db, environmentId, [input.batchId], {
        unservedAfterMs: deps.config.execution.unservedAfterMs,
      })
    ).get(input.batchId);
  const exists = await deps.db
    .selectFrom("batches")
    .select("id")
    .where("id", "=", input.batchId)
    .where("environment_id", "=", environmentId)
    .executeTakeFirst();
  if (!exists) throw notFound(`Batch ${input.batchId} not found`);
  if (!canRead(caller, { kind: "batch", batchId: input.batchId })) throw mayNotRead(`batch ${input.batchId}`);
  return watchEvents<BatchWatchMessage>(
    deps,
    {
      name: "batch.watch",
      scope: { environmentId, batchId: input.batchId },
      needs: { batches: true, runs: false },
      match: (item) => item.batchId === input.batchId && item.batch !== undefined,
      message: (items) => ({ kind: "events", events: items.map(liveEvent), batch: items.at(-1)!.batch! }),
      isLast: endsBatch,
      snapshot: async () => {
        const batch = await progress();
        if (!batch) throw notFound(`Batch ${input.batchId} not found`);
        return { message: { kind: "snapshot", batch }, final: batch.final };
      },
    },
    after,
    signal,
  );
}

/** One run: its state now, then each of its events with its state after it, until it is final. */
export async function watchRun(
  deps: Deps,
  caller: Caller,
  input: { runId: string; lastEventId?: string | null },
  signal: AbortSignal,
) {
  const environmentId = caller.environment.id;
  const after = resumeFrom(input.lastEventId);
  const state = async () => (await readRunStates(deps.db, environmentId, [input.runId])).get(input.runId);
  const run = await state();
  if (!run) throw notFound(`Run ${input.runId} not found`);
  const target = {
    kind: "run" as const,
    runId: run.id,
    taskIdentifier: run.taskIdentifier,
    tags: run.tags,
    batchId: run.batchId,
  };
  if (!canRead(caller, target)) throw mayNotRead(`run ${input.runId}`);
  return watchEvents<RunWatchMessage>(
    deps,
    {
      name: "run.watch",
      scope: { environmentId, runId: input.runId },
      needs: { batches: false, runs: true },
      match: (item) => item.runId === input.runId,
      message: (items) => {
        const run = items.at(-1)!.run;
        return { kind: "events", events: items.map(liveEvent), ...(run ? { run } : {}) };
      },
      isLast: endsRun,
      snapshot: async () => {
        const now = await state();
        if (!now) throw notFound(`Run ${input.runId} not found`);
        return { message: { kind: "snapshot", run: now }, final: now.final };
      },
    },
    after,
    signal,
  );
}

/** Every batch event of the environment, with the batch's progress after it. Never ends by itself. */
export function watchAllBatches(
  deps: Deps,
  caller: Caller,
  input: { lastEventId?: string | null },
  signal: AbortSignal,
) {
  const after = resumeFrom(input.lastEventId);
  return watchEvents<AllBatchesMessage>(
    deps,
    {
      name: "batch.watchAll",
      scope: { environmentId: caller.environment.id },
      needs: { batches: true, runs: false },
      match: (item) => item.batchId !== null && item.batch !== undefined,
      message: (items) => ({
        kind: "events",
        events: items.map(liveEvent),
        batches: Object.fromEntries(items.map((i) => [i.batchId!, i.batch!])),
      }),
      isLast: () => false,
    },
    after,
    signal,
  );
}

/**
 * Every per-run event of the environment (events naming a run), optionally only runs of one task,
 * with one tag, or in one batch. Summarized events that name no run (`runs.created`) are left to
 * the batch subscriptions.
 */
export function watchAllRuns(
  deps: Deps,
  caller: Caller,
  input: { taskIdentifier?: string; tag?: string; batchId?: string; lastEventId?: string | null },
  signal: AbortSignal,
) {
  const after = resumeFrom(input.lastEventId);
  const matches = (item: LiveItem) => {
    if (item.runId === null) return false;
    if (input.batchId !== undefined && item.batchId !== input.batchId) return false;
    const task = item.run?.taskIdentifier ?? (item.data.taskIdentifier as string | undefined);
    if (input.taskIdentifier !== undefined && task !== input.taskIdentifier) return false;
    if (input.tag !== undefined && !(item.run?.tags ?? []).includes(input.tag)) return false;
    return true;
  };
  return watchEvents<AllRunsMessage>(
    deps,
    {
      name: "run.watchAll",
      scope: {
        environmentId: caller.environment.id,
        ...(input.batchId !== undefined ? { batchId: input.batchId } : {}),
      },
      needs: { batches: false, runs: true },
      match: matches,
      message: (items) => ({
        kind: "events",
        events: items.map(liveEvent),
        runs: Object.fromEntries(items.flatMap((i) => (i.run ? [[i.run.id, i.run]] : []))),
      }),
      isLast: () => false,
    },
    after,
    signal,
  );
}
