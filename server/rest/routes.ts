import type { FastifyInstance } from "fastify";
import type { Deps } from "../deps.js";
import { registerAuthTokenRoutes } from "./auth-tokens.js";
import { streamBatchItems } from "./batch-items.js";
import { header, objectBody, restHandler, setTokenHeaders } from "./context.js";
import { registerLegacyBatchRoute } from "./legacy-batch.js";
import { registerPacketRoutes, runPacketLinks } from "./packets.js";
import { batchResultsV1, batchV1, batchV2, runV3 } from "./present.js";
import { registerRealtimeRoutes } from "./realtime.js";
import { registerRunRoutes } from "./runs.js";

type BatchParams = { Params: { batchId: string } };
type TaskParams = { Params: { taskId: string } };
type RunParams = { Params: { runId: string } };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Trigger.dev's public REST API, each route a translation into one router call: parse HTTP, call
 * the procedure as this request's caller, shape the answer as the documentation and the SDK want.
 */
export function registerRestRoutes(app: FastifyInstance, deps: Deps) {
  const route = restHandler.bind(null, deps);

  // ---- two-phase batches ----------------------------------------------------------------------
  app.post(
    "/api/v3/batches",
    route(async (req, reply, call) => {
      const body = objectBody(req);
      const result = await call.trpc.batch.create({
        ...(body as { runCount: number }),
        requestIdempotencyKey: header(req, "x-trigger-request-idempotency-key"),
      });
      await setTokenHeaders(deps, reply, await call.who(), `read:batch:${result.id}`);
      // 202 for a new batch; 200 when an idempotency key found an existing one.
      return reply.status(result.isCached ? 200 : 202).send(result);
    }),
  );

  // Its own scope, so its body reaches the handler unread whatever the Content-Type: the handler
  // answers 415 for a type that is not NDJSON instead of failing to parse it as JSON.
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", (_req, payload, done) => done(null, payload));
    scope.post<BatchParams>(
      "/api/v3/batches/:batchId/items",
      route((req, reply, call) => streamBatchItems(deps, req as never, reply, call)),
    );
  });

  // ---- one-shot batches -----------------------------------------------------------------------
  app.post<TaskParams>(
    "/api/v1/tasks/:taskId/batch",
    route(async (req, reply, call) => {
      const { items } = objectBody(req);
      const task = (req.params as TaskParams["Params"]).taskId;
      const result = await call.trpc.batch.trigger({
        items: (Array.isArray(items)
          ? items.map((item) => (isObject(item) ? { ...item, task } : item))
          : items) as never,
      });
      await setTokenHeaders(deps, reply, await call.who(), `read:batch:${result.batchId}`);
      return reply.status(200).send({ batchId: result.batchId, runs: result.runs });
    }),
  );

  app.post(
    "/api/v1/tasks/batch",
    route(async (req, reply, call) => {
      const { items } = objectBody(req);
      const result = await call.trpc.batch.trigger({ items: items as never });
      await setTokenHeaders(deps, reply, await call.who(), `read:batch:${result.batchId}`);
      return reply.status(200).send({ batchId: result.batchId, runs: result.runs });
    }),
  );

  // Older SDKs' one-shot batch (`batchTriggerV3`).
  registerLegacyBatchRoute(app, deps);

  // ---- reading batches ------------------------------------------------------------------------
  app.get<BatchParams>(
    "/api/v1/batches/:batchId",
    route(async (req, reply, call) => {
      const batch = await call.trpc.batch.get({ batchId: (req.params as BatchParams["Params"]).batchId });
      return reply.send(batchV1(batch));
    }),
  );

  app.get<BatchParams>(
    "/api/v2/batches/:batchId",
    route(async (req, reply, call) => {
      const batch = await call.trpc.batch.get({ batchId: (req.params as BatchParams["Params"]).batchId });
      return reply.send(batchV2(batch));
    }),
  );

  // ---- single runs ----------------------------------------------------------------------------
  app.post<TaskParams>(
    "/api/v1/tasks/:taskId/trigger",
    route(async (req, reply, call) => {
      const body = objectBody(req);
      const result = await call.trpc.task.trigger({
        task: (req.params as TaskParams["Params"]).taskId,
        payload: body.payload,
        options: body.options as never,
        requestIdempotencyKey: header(req, "x-trigger-request-idempotency-key"),
      });
      await setTokenHeaders(deps, reply, await call.who(), `read:runs:${result.id}`);
      return reply.status(200).send({ id: result.id, isCached: result.isCached });
    }),
  );

  app.post<RunParams>(
    "/api/v2/runs/:runId/cancel",
    route(async (req, reply, call) => {
      const { id } = await call.trpc.run.cancel({ runId: (req.params as RunParams["Params"]).runId });
      return reply.send({ id });
    }),
  );

  app.get<BatchParams>(
    "/api/v1/batches/:batchId/results",
    route(async (req, reply, call) => {
      const results = await call.trpc.batch.results({ batchId: (req.params as BatchParams["Params"]).batchId });
      return reply.send(batchResultsV1(results));
    }),
  );

  app.get<RunParams>(
    "/api/v3/runs/:runId",
    route(async (req, reply, call) => {
      const run = await call.trpc.run.get({ runId: (req.params as RunParams["Params"]).runId });
      return reply.send(runV3(run, runPacketLinks(deps, req, await call.reader(), run)));
    }),
  );

  // ---- the rest of what the published SDK calls --------------------------------------------------
  registerPacketRoutes(app, deps);
  registerAuthTokenRoutes(app, deps);
  registerRealtimeRoutes(app, deps);
  registerRunRoutes(app, deps);
}
