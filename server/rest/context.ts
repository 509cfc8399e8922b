import type { FastifyReply, FastifyRequest } from "fastify";
import type { Caller } from "../auth/authenticate.js";
import { publicAccessToken } from "../auth/jwt.js";
import type { Deps } from "../deps.js";
import { badRequest } from "../errors.js";
import { authenticateContext, type Context, createCallerFactory } from "../trpc/init.js";
import { appRouter } from "../trpc/routers/_app.js";
import { sendError } from "./errors.js";

const createCaller = createCallerFactory(appRouter);

export interface RestCall {
  /** The router, called as this request's caller. */
  trpc: ReturnType<typeof createCaller>;
  /** The authenticated caller (memoized; rejects with 401 for a bad key). */
  who: () => Promise<Caller>;
  /** The same, also accepting public access tokens: for read routes, after the procedure checked scopes. */
  reader: () => Promise<Caller>;
  /**
   * `reader` for a live request that waits for changes (a long poll): not charged against the
   * request limit, since a subscriber makes one per change it is told about.
   */
  subscriber: () => Promise<Caller>;
}

/** Wraps a REST handler: one tRPC caller per request, and every failure mapped to `{error, message}`. */
export function restHandler(
  deps: Deps,
  handler: (req: FastifyRequest, reply: FastifyReply, call: RestCall) => Promise<unknown>,
) {
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const ctx: Context = { deps, authorization: req.headers.authorization, requestId: req.id };
    try {
      return await handler(req, reply, {
        trpc: createCaller(ctx),
        who: () => authenticateContext(ctx),
        reader: () => authenticateContext(ctx, { allowPublicTokens: true }),
        subscriber: () => authenticateContext(ctx, { allowPublicTokens: true, charge: false }),
      });
    } catch (err) {
      return sendError(reply, err, req.log);
    }
  };
}

/** The parsed JSON body, which must be an object. */
export function objectBody(req: FastifyRequest): Record<string, unknown> {
  const body = req.body;
  if (body === undefined) throw badRequest("Request body is empty");
  if (typeof body !== "object" || body === null || Array.isArray(body))
    throw badRequest("Request body must be a JSON object");
  return body as Record<string, unknown>;
}

export function header(req: FastifyRequest, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** How long the token a create answer carries lives (Trigger.dev's: 1 h), unless the cap is lower. */
const RESOURCE_TOKEN_TTL_SECONDS = 3600;

/**
 * `x-trigger-jwt` (a public token scoped to what was just created) and `x-trigger-jwt-claims`.
 * The SDK uses the first as the handle's `publicAccessToken`.
 */
export async function setTokenHeaders(deps: Deps, reply: FastifyReply, caller: Caller, scope: string) {
  if (caller.kind !== "secret") return;
  const { token, claims } = await publicAccessToken({
    environmentId: caller.environment.id,
    secretKey: caller.secretKey,
    scopes: [scope],
    ttlSeconds: Math.min(RESOURCE_TOKEN_TTL_SECONDS, deps.config.tokens.maxTtlSeconds),
  });
  reply.header("x-trigger-jwt", token);
  reply.header("x-trigger-jwt-claims", JSON.stringify(claims));
}
