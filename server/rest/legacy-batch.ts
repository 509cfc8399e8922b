import type { FastifyInstance } from "fastify";
import type { Deps } from "../deps.js";
import { badRequest } from "../errors.js";
import { header, objectBody, restHandler, setTokenHeaders } from "./context.js";

/** Trigger.dev's `MAX_BATCH_V2_TRIGGER_ITEMS` and `BATCH_TASK_PAYLOAD_MAXIMUM_SIZE` for this route. */
const MAX_ITEMS = 500;
const MAX_BODY_BYTES = 1_000_000;

/**
 * `POST /api/v2/tasks/batch`, the one-shot batch of older SDKs (`batchTriggerV3`), answered as
 * Trigger.dev answers it: body `{items, parentRunId?, resumeParentOnCompletion?}` (other keys are
 * ignored, as its schema strips them), 1..500 items, a body of at most 1,000,000 bytes (413),
 * an optional `batch-processing-strategy: sequential|parallel` header; 202
 * `{id, isCached: false, runCount}` with the `x-trigger-jwt` headers. Unlike Trigger.dev (where it
 * is inert), a repeated `x-trigger-request-idempotency-key` returns the first batch.
 */
export function registerLegacyBatchRoute(app: FastifyInstance, deps: Deps) {
  app.post(
    "/api/v2/tasks/batch",
    { bodyLimit: MAX_BODY_BYTES },
    restHandler(deps, async (req, reply, call) => {
      await call.who();
      const strategy = header(req, "batch-processing-strategy");
      if (strategy !== undefined && strategy !== "sequential" && strategy !== "parallel") {
        throw badRequest(`batch-processing-strategy must be "sequential" or "parallel", got "${strategy}"`);
      }
      const { items, parentRunId, resumeParentOnCompletion } = objectBody(req);
      if (!Array.isArray(items)) throw badRequest("items must be an array of {task, payload?, options?}");
      if (items.length === 0) throw badRequest("Batch cannot be triggered with no items");
      const max = Math.min(MAX_ITEMS, deps.config.limits.maxOneShotItems);
      if (items.length > max)
        throw badRequest(`Batch size of ${items.length} is too large. Maximum allowed batch size is ${max}.`);
      const result = await call.trpc.batch.trigger({
        items,
        parentRunId,
        resumeParentOnCompletion,
        requestIdempotencyKey: header(req, "x-trigger-request-idempotency-key"),
      } as never);
      await setTokenHeaders(deps, reply, await call.who(), `read:batch:${result.batchId}`);
      return reply.status(202).send({ id: result.batchId, isCached: false, runCount: result.runs.length });
    }),
  );
}
