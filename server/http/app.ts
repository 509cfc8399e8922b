import type { TRPCError } from "@trpc/server";
import { fastifyRequestHandler } from "@trpc/server/adapters/fastify";
import Fastify, { type FastifyInstance } from "fastify";
import type { Deps } from "../deps.js";
import { errorBody, shouldRetryHeader } from "../rest/errors.js";
import { registerRestRoutes } from "../rest/routes.js";
import { registerCors } from "../limits/cors.js";
import { registerHttpGuards } from "../limits/http-guards.js";
import type { Context } from "../trpc/init.js";
import { appRouter } from "../trpc/routers/_app.js";
import { registerBodyDrain } from "./drain-body.js";
import { registerHealthRoutes } from "./health.js";
import { registerShutdownHooks } from "./shutdown.js";
import { isSubscriptionRequest, serveSubscription } from "./trpc-sse.js";

/** A client error Fastify raises itself (bad JSON, body too large) carries its status. */
interface HttpError extends Error {
  statusCode?: number;
}

/** The HTTP face of Salvo: tRPC at /trpc, Trigger.dev's REST API at /api, health at /healthz and /readyz. */
export function buildApp(deps: Deps): FastifyInstance {
  const app = Fastify({
    logger: deps.config.logLevel === "silent" ? false : { level: deps.config.logLevel },
    bodyLimit: deps.config.limits.maxJsonBodyBytes,
    // Routes are matched case-sensitively and without trailing-slash games, as Trigger.dev does.
    // tRPC batches name every procedure of a batch in the path (`/trpc/a,b,c`).
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: 10_000 },
    // Close waits for requests in flight (idle keep-alive connections are closed at once); long
    // waits end themselves on `deps.closing`, and the grace period bounds the rest (see start.ts).
    forceCloseConnections: "idle",
    // Our own 503 while closing, with `x-should-retry` (see http/shutdown.ts).
    return503OnClosing: false,
  });
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
      done(null, JSON.parse(text));
    } catch (err) {
      const error: HttpError = new Error(`Invalid JSON: ${(err as Error).message}`);
      error.statusCode = 400;
      done(error, undefined);
    }
  });

  app.setErrorHandler((err: HttpError, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500) req.log.error({ err }, "unhandled error");
    const message =
      status === 413 ? "Request body too large" : status === 500 ? "Internal Server Error" : err.message;
    const retry = shouldRetryHeader(status);
    if (retry) reply.header("x-should-retry", retry);
    return reply.status(status).send(errorBody(message));
  });
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).header("x-should-retry", "false").send(errorBody(`Not found: ${req.method} ${req.url.split("?")[0]}`)),
  );

  registerHealthRoutes(app, deps);

  // EventSource cannot send headers from a browser: subscriptions may carry the key or token in
  // tRPC's connectionParams instead (`{ authorization: "Bearer …" }` or `{ token: "…" }`).
  const createContext = (authorization: string | undefined, connectionParams: Record<string, string | undefined> | null): Context => ({
    deps,
    authorization: authorization ?? authorizationFromParams(connectionParams),
  });
  const onError = (error: TRPCError, path: string | undefined) => {
    if (error.code === "INTERNAL_SERVER_ERROR") app.log.error({ err: error, path }, "tRPC procedure failed");
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
          createContext: (connectionParams) => createContext(req.headers.authorization, connectionParams),
          onError,
          closing: deps.closing,
        });
      }
      await fastifyRequestHandler({
        router: appRouter,
        req,
        res: reply,
        path,
        createContext: ({ req, info }) => createContext(req.headers.authorization, info.connectionParams),
        onError: ({ error, path }) => onError(error, path),
        // A 503 (database unreachable, server shutting down) is worth retrying, as on REST.
        responseMeta: ({ errors }) =>
          errors.some((e) => e.code === "SERVICE_UNAVAILABLE") ? { headers: { "x-should-retry": "true" } } : {},
      });
    });
  });

  registerHttpGuards(app);
  registerCors(app);
  registerRestRoutes(app, deps);
  return app;
}

function authorizationFromParams(params: Record<string, string | undefined> | null): string | undefined {
  if (!params) return undefined;
  if (typeof params.authorization === "string") return params.authorization;
  if (typeof params.token === "string") return `Bearer ${params.token}`;
  return undefined;
}
