import type { Tracer } from "@opentelemetry/api";
import { type FastifyInstance, type FastifyReply, type FastifyRequest, LogController } from "fastify";
import { type RequestStore, requestContext } from "../observability/log.js";
import { startRequestSpan } from "../observability/tracing.js";

/**
 * Fastify's request lines, at `debug`: a busy server answers thousands of worker calls a minute,
 * which at `info` buried everything else (about 1,000 runs made 1,600 lines). A 5xx still logs
 * its error at `error` (app.ts's error handler). Each line names the route template, the status
 * and the time taken, and carries the request's id (`reqId`).
 */
export class QuietRequestLog extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({ req: request }, "incoming request");
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const fields = { route: request.routeOptions.url, statusCode: reply.statusCode, responseTime: reply.elapsedTime };
    if (error) reply.log.warn({ ...fields, err: error }, "request errored");
    else reply.log.debug(fields, "request completed");
  }

  override routeNotFound(request: FastifyRequest): void {
    request.log.debug("route not found");
  }

  override defaultErrorLog(error: Error, request: FastifyRequest, reply: FastifyReply): void {
    if (reply.statusCode >= 500) super.defaultErrorLog(error, request, reply);
    else request.log.debug({ err: error, statusCode: reply.statusCode }, error.message);
  }

  override streamError(error: Error & { code?: string }, request: FastifyRequest, reply: FastifyReply): void {
    if (error.code === "ERR_STREAM_PREMATURE_CLOSE") request.log.debug("stream closed prematurely");
    else super.streamError(error, request, reply);
  }
}

/**
 * Enters the request's context (`requestContext`) for everything that serves it, so lines logged
 * by domain code carry the request's id. Entered again before the handler: a body is read in
 * stream callbacks, which run outside the context the request started in. With tracing on, the
 * request's span starts here and travels in the same context (observability/tracing.ts).
 */
export function registerRequestContext(app: FastifyInstance, tracer: Tracer | undefined): void {
  const stores = new WeakMap<FastifyRequest, RequestStore>();
  app.addHook("onRequest", (req, reply, done) => {
    const store: RequestStore = { reqId: req.id };
    if (tracer) store.span = startRequestSpan(tracer, req, reply.raw);
    stores.set(req, store);
    requestContext.run(store, done);
  });
  app.addHook("preHandler", (req, _reply, done) => requestContext.run(stores.get(req) ?? { reqId: req.id }, done));
}
