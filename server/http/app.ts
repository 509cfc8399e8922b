import { randomBytes } from "node:crypto";
import type { TRPCError } from "@trpc/server";
import { fastifyRequestHandler } from "@trpc/server/adapters/fastify";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from "fastify";
import { subscriptionAuthorization } from "../auth/connection-params.js";
import type { Deps } from "../deps.js";
import { DomainError, internalErrorMessage } from "../errors.js";
import { rateLimitHeaders } from "../limits/batch-rate-limit.js";
import { capConnections, connectionOptions } from "../limits/connection-limits.js";
import { assertJsonTextDepth } from "../limits/json-depth.js";
import { SubscriptionSlots } from "../limits/subscription-slots.js";
import type { PoolStats } from "../observability/gauges.js";
import { errorBody, shouldRetryHeader } from "../rest/errors.js";
import { registerRestRoutes } from "../rest/routes.js";
import { authenticateContext, type Context } from "../trpc/init.js";
import { appRouter } from "../trpc/routers/_app.js";
import { registerCors } from "./cors.js";
import { dashboardDir, registerDashboard } from "./dashboard.js";
import { registerBodyDrain } from "./drain-body.js";
import { registerHttpGuards } from "./guards.js";
import { registerHealthRoutes } from "./health.js";
import { registerHttpMetrics, registerMetricsRoute } from "./metrics-route.js";
import { registerOpenApiRoutes } from "./openapi.js";
import { QuietRequestLog, registerRequestContext } from "./request-log.js";
import { registerShutdownHooks } from "./shutdown.js";
import { isSubscriptionRequest, serveSubscription } from "./trpc-sse.js";

/** A client error Fastify raises itself (bad JSON, body too large) carries its status. */
interface HttpError extends Error {
  statusCode?: number;
}

/**
 * The HTTP face of Salvo: tRPC at /trpc, Trigger.dev's REST API at /api, health at /healthz and
 * /readyz, the dashboard at /dashboard (`/` redirects there).
 */
export function buildApp(
  deps: Deps,
  options: {
    poolStats?: () => PoolStats;
    /** Told of every route as it is registered (test/openapi.test.ts checks each is documented). */
    onRoute?: (route: { method: string | string[]; url: string }) => void;
  } = {},
): FastifyInstance {
  const app = Fastify({
    // One logger for the process (observability/log.ts), requests at debug.
    loggerInstance: deps.log as FastifyBaseLogger,
    logController: new QuietRequestLog(),
    bodyLimit: deps.config.limits.maxJsonBodyBytes,
    // Routes are matched case-sensitively and without trailing-slash games, as Trigger.dev does.
    // tRPC batches name every procedure of a batch in the path (`/trpc/a,b,c`).
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: 10_000 },
    // Close waits for requests in flight (idle keep-alive connections are closed at once); long
    // waits end themselves on `deps.closing`, and the grace period bounds the rest (see start.ts).
    forceCloseConnections: "idle",
    // Our own 503 while closing, with `x-should-retry` (see http/shutdown.ts).
    return503OnClosing: false,
    // Unique across restarts and processes: the id a 500 names is the one its log line carries (`reqId`).
    genReqId: () => `req_${randomBytes(8).toString("hex")}`,
    ...connectionOptions(deps.config),
  });
  if (options.onRoute) app.addHook("onRoute", options.onRoute);
  app.addHook("onRequest", async (req, reply) => {
    reply.header("x-request-id", req.id);
  });
  registerRequestContext(app, deps.tracer);
  registerHttpMetrics(app);
  capConnections(app, deps.config);
  registerShutdownHooks(app, deps);
  registerBodyDrain(app);

  // Bodies are read as JSON whatever their Content-Type says (curl's default form type included),
  // and an empty body is simply absent (the SDK sends `Content-Type: application/json` on bodiless
  // POSTs). The NDJSON items route keeps its body as a stream (see rest/routes.ts).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_req, body, done) => {
    const text = (body as Buffer).toString("utf8");
    if (text.trim() === "") return done(null, undefined);
    try {
      assertJsonTextDepth(text, "The request body");
      done(null, JSON.parse(text));
    } catch (err) {
      if (err instanceof DomainError)
        return done(Object.assign(new Error(err.message), { statusCode: 400 }), undefined);
      const error: HttpError = new Error(`Invalid JSON: ${(err as Error).message}`);
      error.statusCode = 400;
      done(error, undefined);
    }
  });

  app.setErrorHandler((err: HttpError, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) req.log.error({ err }, "unhandled error");
    const message =
      status === 413 ? "Request body too large" : status === 500 ? internalErrorMessage(req.id) : err.message;
    const retry = shouldRetryHeader(status);
    if (retry) reply.header("x-should-retry", retry);
    return reply.status(status).send(errorBody(message));
  });
  app.setNotFoundHandler((req, reply) =>
    reply
      .status(404)
      .header("x-should-retry", "false")
      .send(errorBody(`Not found: ${req.method} ${req.url.split("?")[0]}`)),
  );

  registerHealthRoutes(app, deps);
  registerMetricsRoute(app, deps, options.poolStats);
  registerOpenApiRoutes(app);

  const createContext = (req: FastifyRequest, authorization: string | undefined): Context => ({
    deps,
    authorization,
    requestId: req.id,
  });
  const subscriptionSlots = new SubscriptionSlots(deps.config.connections);
  // Logged with the request's id (`reqId`), which the error's answer names.
  const onError = (req: FastifyRequest, error: TRPCError, path: string | undefined) => {
    if (error.code === "INTERNAL_SERVER_ERROR") req.log.error({ err: error, path }, "tRPC procedure failed");
  };
  // What fastifyTRPCPlugin does, except that subscriptions are streamed by trpc-sse.ts.
  app.register(async (trpc) => {
    // tRPC reads request bodies itself.
    trpc.removeContentTypeParser("application/json");
    trpc.addContentTypeParser("application/json", { parseAs: "string" }, (_req, body, done) => done(null, body));
    trpc.removeContentTypeParser("multipart/form-data");
    trpc.addContentTypeParser("multipart/form-data", {}, (_req, body, done) => done(null, body));
    trpc.all<{ Params: { path: string } }>("/trpc/:path", async (req, reply) => {
      const { path } = req.params;
      if (isSubscriptionRequest(appRouter, req.method, path)) {
        return serveSubscription(req, reply, {
          router: appRouter,
          path,
          createContext: (connectionParams) =>
            createContext(req, req.headers.authorization ?? subscriptionAuthorization(connectionParams)),
          // A worker's presence stream is exempt, as every worker call is from the request limit:
          // one per worker, its count is the fleet's size, and refusing it would only turn a dead
          // worker's quick reclaim back into a 30 s lease.
          admit: path === "worker.presence" ? undefined : (ctx) => admitSubscription(subscriptionSlots, ctx as Context),
          refusalHeaders: (error) => rateLimitHeaders({ errors: [error] }).headers ?? {},
          onError: (error, path) => onError(req, error, path),
          closing: deps.closing,
        });
      }
      await fastifyRequestHandler({
        router: appRouter,
        req,
        res: reply,
        path,
        createContext: () => createContext(req, req.headers.authorization),
        onError: ({ error, path }) => onError(req, error, path),
        // Rate-limit headers on a 429; a 503 (database unreachable, server shutting down) is worth
        // retrying, as on REST.
        responseMeta: (opts) => {
          const meta = rateLimitHeaders(opts);
          if (!opts.errors.some((e) => e.code === "SERVICE_UNAVAILABLE")) return meta;
          return { ...meta, headers: { ...meta.headers, "x-should-retry": "true" } };
        },
      });
    });
  });

  registerHttpGuards(app);
  registerCors(app);
  registerRestRoutes(app, deps);
  registerDashboard(app, dashboardDir());
  return app;
}

/** A slot for the caller of a subscription whose procedure has already authenticated it. */
async function admitSubscription(slots: SubscriptionSlots, ctx: Context): Promise<() => void> {
  // Memoized: the procedure's middleware already authenticated (and charged) this request.
  const caller = await authenticateContext(ctx, { allowPublicTokens: true, charge: false });
  return slots.take(caller, ctx.authorization ?? "");
}
