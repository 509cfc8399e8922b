import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

/**
 * CORS as Trigger.dev's public API does it (reference §15.1): browsers may call the API with a
 * public access token (JWT), so preflights are answered for any origin, and responses reflect the
 * Origin and expose the JWT headers. No credentials header: a browser never sends cookies here,
 * authorization is the bearer token. The items stream, `/results` and the per-task one-shot batch
 * route have no CORS there, so none here either (their preflight is a 405).
 */
const WITHOUT_CORS = [
  /^\/api\/v3\/batches\/[^/]+\/items$/,
  /^\/api\/v1\/batches\/[^/]+\/results$/,
  /^\/api\/v1\/tasks\/[^/]+\/batch$/,
];
const ALLOWED_METHODS = "GET,HEAD,PUT,PATCH,POST,DELETE";
const EXPOSED_HEADERS = "x-trigger-jwt,x-trigger-jwt-claims";
/** On realtime answers: the shape protocol's headers, which `@electric-sql/client` reads. */
const REALTIME_EXPOSED_HEADERS = "electric-handle,electric-offset,electric-schema,electric-cursor,electric-up-to-date";
/** Header values echoed back must be printable ASCII: anything else is simply not reflected. */
const SAFE_VALUE = /^[\x20-\x7e]{1,4096}$/;

/**
 * The path as the router matches it: percent-escapes decoded except those of reserved characters
 * (`%2F` stays inside its segment), which is what `decodeURI` does and what find-my-way does
 * before matching. Deciding on the raw bytes instead would let `/batches/{id}/%69tems` reach the
 * items handler with CORS. A malformed escape matches no route: undefined, no CORS.
 */
function routedPath(req: FastifyRequest): string | undefined {
  try {
    return decodeURI(req.url.split("?")[0]!);
  } catch {
    return undefined;
  }
}
const hasCors = (path: string | undefined) =>
  (path?.startsWith("/api/") || path?.startsWith("/realtime/")) && !WITHOUT_CORS.some((re) => re.test(path!));

function reflectOrigin(req: FastifyRequest, reply: FastifyReply) {
  const origin = req.headers.origin;
  if (typeof origin === "string" && SAFE_VALUE.test(origin)) reply.header("access-control-allow-origin", origin);
  reply.header("vary", "Origin");
}

export function registerCors(app: FastifyInstance) {
  app.addHook("onRequest", async (req, reply) => {
    const path = routedPath(req);
    if (req.method === "OPTIONS" || !hasCors(path)) return;
    if (req.headers.origin === undefined) return;
    reflectOrigin(req, reply);
    reply.header(
      "access-control-expose-headers",
      path!.startsWith("/realtime/") ? REALTIME_EXPOSED_HEADERS : EXPOSED_HEADERS,
    );
  });

  const preflight = async (req: FastifyRequest, reply: FastifyReply) => {
    if (!hasCors(routedPath(req))) return reply.status(405).send({ error: "Method Not Allowed" });
    reflectOrigin(req, reply);
    reply.header("access-control-allow-methods", ALLOWED_METHODS);
    const requested = req.headers["access-control-request-headers"];
    if (typeof requested === "string" && SAFE_VALUE.test(requested)) {
      reply.header("access-control-allow-headers", requested);
      reply.header("vary", "Origin, Access-Control-Request-Headers");
    }
    reply.header("access-control-max-age", "300");
    return reply.status(200).send({});
  };
  app.options("/api/*", preflight);
  // Browsers read runs live cross-origin (the React hooks): Trigger.dev's realtime routes allow it.
  app.options("/realtime/*", preflight);
}
