import type { FastifyInstance } from "fastify";
import type { Deps } from "../deps.js";
import { errorBody } from "../rest/errors.js";

/**
 * HTTP while the server shuts down (`deps.closing` aborted, see start.ts): a request that arrives
 * on a connection still open gets a 503 the client retries (on another server, or this one once
 * restarted), and every answer closes its connection, so the server is left with no connection
 * once its in-flight requests are answered.
 */
export function registerShutdownHooks(app: FastifyInstance, deps: Deps) {
  app.addHook("onRequest", async (_req, reply) => {
    if (!deps.closing.aborted) return;
    return reply
      .status(503)
      .header("x-should-retry", "true")
      .header("connection", "close")
      .send(errorBody("The server is shutting down; retry the request"));
  });
  app.addHook("onSend", async (_req, reply) => {
    if (deps.closing.aborted) reply.header("connection", "close");
  });
}
