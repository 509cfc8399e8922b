import { initTRPC, TRPCError } from "@trpc/server";
import superjson from "superjson";
import { authenticate, type Caller } from "../auth/authenticate.js";
import { isTransientDbError } from "../../db/errors.js";
import type { Deps } from "../deps.js";
import { RateLimitExceededError } from "../limits/batch-rate-limit.js";
import { inputErrorFromDatabase } from "../limits/db-input-errors.js";

/**
 * Every call carries the service's dependencies and the raw Authorization header; the `authed`
 * procedure turns the header into the caller's environment. REST builds the same context.
 */
export interface Context {
  deps: Deps;
  authorization: string | undefined;
  /** Memo: a REST request makes many calls (one per stream chunk) but authenticates once. */
  auth?: { secretOnly?: Promise<Caller>; allowingPublic?: Promise<Caller> };
}

/** The caller of this request; public access tokens only where `allowPublicTokens` is set. */
export function authenticateContext(ctx: Context, { allowPublicTokens = false } = {}): Promise<Caller> {
  const memo = (ctx.auth ??= {});
  return allowPublicTokens
    ? (memo.allowingPublic ??= authenticate(ctx.deps, ctx.authorization, { allowPublicTokens: true }))
    : (memo.secretOnly ??= authenticate(ctx.deps, ctx.authorization, { allowPublicTokens: false }));
}

const t = initTRPC.context<Context>().create({
  transformer: superjson,
  // A 429 carries the bucket's numbers (limit, remaining, reset in unix seconds, retryAfter).
  errorFormatter: ({ shape, error }) =>
    error.cause instanceof RateLimitExceededError ? { ...shape, data: { ...shape.data, rateLimit: error.cause.toJSON() } } : shape,
  sse: { ping: { enabled: true, intervalMs: 10_000 }, client: { reconnectAfterInactivityMs: 30_000 } },
});

export const router = t.router;

export const createCallerFactory = t.createCallerFactory;

/**
 * Database failures that are not the procedure's fault, mapped once for every procedure:
 * - input Postgres cannot store (a NUL character in any string: ids, keys, tags, metadata; JSON
 *   nested too deep...) is the client's mistake, so a 400 rather than a 500;
 * - Postgres unreachable or restarting, or this server shutting down, is a 503 worth retrying
 *   (the HTTP layer adds `x-should-retry: true`, see http/app.ts).
 */
const databaseFailures = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok) {
    const input = inputErrorFromDatabase(result.error.cause);
    if (input) throw input;
    if (isTransientDbError(result.error.cause)) {
      throw new TRPCError({ code: "SERVICE_UNAVAILABLE", message: "The database is unavailable for a moment; retry the request", cause: result.error.cause });
    }
  }
  return result;
});
const baseProcedure = t.procedure.use(databaseFailures);

/** Needs an environment's secret key: everything that creates or changes something. */
export const authedProcedure = baseProcedure.use(async ({ ctx, next }) => {
  const caller = await authenticateContext(ctx);
  return next({ ctx: { ...ctx, caller, environment: caller.environment } });
});

/**
 * Accepts a secret key or a public access token. A procedure built on it must check the token's
 * scopes for what it reads (`ctx.caller.kind === "public"`).
 */
export const readerProcedure = baseProcedure.use(async ({ ctx, next }) => {
  const caller = await authenticateContext(ctx, { allowPublicTokens: true });
  return next({ ctx: { ...ctx, caller, environment: caller.environment } });
});
