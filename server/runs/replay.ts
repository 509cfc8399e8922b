import type { ReplayRunInput, TaskItem, TriggerTaskResult } from "../../shared/schemas.js";
import type { AuthenticatedEnvironment } from "../auth/authenticate.js";
import type { Deps } from "../deps.js";
import { notFound } from "../errors.js";
import { triggerTask } from "./trigger.js";

/**
 * A new run of a run's task, with its payload (as stored: an offloaded payload is shared, not
 * copied) and its options: queue, concurrency key, tags, metadata, TTL, attempts and test flag.
 * What the input gives replaces them; an idempotency key or a delay applies only when given. The
 * replay is a run of its own, outside any batch.
 */
export async function replayRun(
  deps: Deps,
  environment: AuthenticatedEnvironment,
  input: ReplayRunInput,
): Promise<TriggerTaskResult> {
  const run = await deps.db
    .selectFrom("runs")
    .select([
      "task_identifier",
      "payload",
      "payload_type",
      "queue",
      "concurrency_key",
      "tags",
      "metadata",
      "ttl_seconds",
      "max_attempts",
      "is_test",
    ])
    .where("id", "=", input.runId)
    .where("environment_id", "=", environment.id)
    .executeTakeFirst();
  if (!run) throw notFound(`Run ${input.runId} not found`);
  const samePayload = input.payload === undefined;
  const item: TaskItem = {
    task: run.task_identifier,
    payload: samePayload ? (run.payload ?? undefined) : input.payload,
    options: {
      ...(samePayload
        ? { payloadType: run.payload_type }
        : input.payloadType !== undefined
          ? { payloadType: input.payloadType }
          : {}),
      queue: { name: input.queue ?? run.queue },
      ...optional("concurrencyKey", input.concurrencyKey ?? run.concurrency_key),
      tags: input.tags ?? run.tags,
      ...optional("metadata", input.metadata ?? (run.metadata as Record<string, unknown> | null)),
      ...optional("ttl", input.ttl ?? run.ttl_seconds),
      ...optional("maxAttempts", input.maxAttempts ?? run.max_attempts),
      ...optional("delay", input.delay),
      ...optional("idempotencyKey", input.idempotencyKey),
      ...optional("idempotencyKeyTTL", input.idempotencyKeyTTL),
      test: run.is_test,
    },
  };
  return triggerTask(deps, environment, item);
}

const optional = <K extends string, V>(key: K, value: V | null | undefined) =>
  value === null || value === undefined ? {} : ({ [key]: value } as Record<K, V>);
