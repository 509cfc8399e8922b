import type { NewRun } from "../../db/schema.js";
import { parseDurationSeconds } from "../../shared/durations.js";
import { friendlyId } from "../../shared/ids.js";
import type { TaskItem } from "../../shared/schemas.js";
import { packetFromInput } from "./packets.js";

const DEFAULT_IDEMPOTENCY_TTL_SECONDS = 30 * 24 * 3600;

export interface RunContext {
  environmentId: string;
  now: Date;
  batchId?: string;
  parentRunId?: string;
  resumeParentOnCompletion?: boolean;
  triggerFunction: "trigger" | "triggerAndWait" | "batchTrigger" | "batchTriggerAndWait";
}

/** A run ready to insert, plus what the insert needs to know about its queue. */
export interface PreparedRun {
  row: NewRun & { id: string };
  queueLimit: number | undefined;
}

export const defaultQueueName = (task: string) => `task/${task}`;

export function delayUntil(delay: string | undefined, now: Date): Date | null {
  if (delay === undefined) return null;
  const seconds = parseDurationSeconds(delay);
  const at = seconds !== undefined ? new Date(now.getTime() + seconds * 1000) : new Date(delay);
  // A date in the past means "no delay", as Trigger.dev treats it.
  return at.getTime() > now.getTime() ? at : null;
}

/** Turns a validated item into the row of the run it becomes. */
export function prepareRun(item: TaskItem, ctx: RunContext, batchIndex?: number): PreparedRun {
  const options = item.options ?? {};
  const packet = packetFromInput(item.payload, options.payloadType);
  const delayedUntil = delayUntil(options.delay, ctx.now);
  const ttlSeconds =
    options.ttl === undefined
      ? null
      : typeof options.ttl === "number"
        ? options.ttl
        : parseDurationSeconds(options.ttl)!;
  const idempotencyTtl =
    options.idempotencyKeyTTL !== undefined
      ? parseDurationSeconds(options.idempotencyKeyTTL)!
      : DEFAULT_IDEMPOTENCY_TTL_SECONDS;
  // A TTL starts when the run becomes eligible to execute: after its delay, if it has one.
  const eligibleAt = delayedUntil ?? ctx.now;
  return {
    row: {
      id: friendlyId("run"),
      environment_id: ctx.environmentId,
      task_identifier: item.task,
      status: delayedUntil ? "DELAYED" : "QUEUED",
      payload: packet.data,
      payload_type: packet.type,
      queue: options.queue?.name ?? defaultQueueName(item.task),
      concurrency_key: options.concurrencyKey ?? null,
      idempotency_key: options.idempotencyKey ?? null,
      idempotency_key_expires_at: options.idempotencyKey ? new Date(ctx.now.getTime() + idempotencyTtl * 1000) : null,
      tags: options.tags ?? [],
      metadata: options.metadata === undefined ? null : JSON.stringify(options.metadata),
      ttl_seconds: ttlSeconds,
      delay_until: delayedUntil,
      expires_at: ttlSeconds === null ? null : new Date(eligibleAt.getTime() + ttlSeconds * 1000),
      max_attempts: options.maxAttempts ?? null,
      batch_id: ctx.batchId ?? null,
      batch_index: batchIndex ?? null,
      parent_run_id: ctx.parentRunId ?? null,
      resume_parent_on_completion: ctx.resumeParentOnCompletion ?? false,
      trigger_function: ctx.triggerFunction,
      is_test: options.test ?? false,
      lease_owner: null,
      lease_expires_at: null,
      output: null,
      output_type: null,
      error: null,
      created_at: ctx.now,
      updated_at: ctx.now,
    },
    queueLimit: options.queue?.concurrencyLimit,
  };
}
