import type { FastifyInstance } from "fastify";

/** Methods the tRPC adapter can turn into a fetch Request; it throws (a 500) on TRACE and CONNECT. */
const TRPC_METHODS = new Set(["GET", "POST", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"]);

/** Requests refused before any handler runs, for what handlers cannot cope with themselves. */
export function registerHttpGuards(app: FastifyInstance) {
  app.addHook("onRequest", async (req, reply) => {
    if ((req.url === "/trpc" || req.url.startsWith("/trpc/")) && !TRPC_METHODS.has(req.method)) {
      return reply.status(405).send({ error: `Method ${req.method} is not allowed` });
    }
  });
}
