import { initTRPC, TRPCError } from "@trpc/server";
import { ZodError } from "zod";
import { isTransientDbError } from "../../db/errors.js";
import { dataTransformer } from "../../shared/transformer.js";
import { authenticate, type Caller } from "../auth/authenticate.js";
import type { Deps } from "../deps.js";
import { internalErrorMessage } from "../errors.js";
import { RateLimitExceededError } from "../limits/batch-rate-limit.js";
import { inputErrorFromDatabase } from "../limits/db-input-errors.js";
import { assertValueDepth } from "../limits/json-depth.js";
import { chargeRequest } from "../limits/request-rate-limit.js";
import { describeZodError } from "../rest/errors.js";

/**
 * Every call carries the service's dependencies and the raw Authorization header; the `authed`
 * procedure turns the header into the caller's environment. REST builds the same context.
 */
export interface Context {
  deps: Deps;
  authorization: string | undefined;
  /** The HTTP request's id, as logged: named in the answer to a server fault. */
  requestId?: string;
  /** Memo: a REST request makes many calls (one per stream chunk) but authenticates once. */
  auth?: { secretOnly?: Promise<Caller>; allowingPublic?: Promise<Caller> };
  /** Memo: the request's one charge against its environment's request limit. */
  charged?: Promise<void>;
}

/**
 * The caller of this request; public access tokens only where `allowPublicTokens` is set. The
 * request is charged once against its environment's request limit (limits/request-rate-limit.ts)
 * unless `charge` is false (workers' calls).
 */
export async function authenticateContext(
  ctx: Context,
  { allowPublicTokens = false, charge = true } = {},
): Promise<Caller> {
  ctx.auth ??= {};
  const memo = allowPublicTokens ? "allowingPublic" : "secretOnly";
  ctx.auth[memo] ??= authenticate(ctx.deps, ctx.authorization, { allowPublicTokens });
  const caller = await ctx.auth[memo];
  if (charge) {
    ctx.charged ??= chargeRequest(ctx.deps, caller.environment.id);
    await ctx.charged;
  }
  return caller;
}

const t = initTRPC.context<Context>().create({
  transformer: {
    // Input is checked for depth before anything recursive walks it (see limits/json-depth.ts).
    input: {
      serialize: dataTransformer.serialize,
      deserialize: (wire: unknown) => {
        assertValueDepth((wire as { json?: unknown } | null)?.json, "The input");
        return dataTransformer.deserialize(wire);
      },
    },
    output: dataTransformer,
  },
  // Stacks only with SALVO_DEBUG_ERRORS (see the formatter), never by NODE_ENV.
  isDev: false,
  errorFormatter: ({ shape, error, ctx }) => {
    const debug = ctx?.deps.config.debugErrors === true;
    const { stack: _stack, ...data } = shape.data;
    const message =
      error.code === "INTERNAL_SERVER_ERROR" && !debug
        ? internalErrorMessage(ctx?.requestId)
        : error.cause instanceof ZodError
          ? `Invalid request: ${describeZodError(error.cause)}`
          : shape.message;
    return {
      ...shape,
      message,
      data: {
        ...data,
        ...(debug && error.stack ? { stack: error.stack } : {}),
        // A 429 carries the bucket's numbers (limit, remaining, reset in unix seconds, retryAfter).
        ...(error.cause instanceof RateLimitExceededError ? { rateLimit: error.cause.toJSON() } : {}),
      },
    };
  },
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
    // What the server's own retries could not get past (db/transaction.ts) or a database that is
    // away: "try again", as REST's 503 says, never a 500.
    if (isTransientDbError(result.error.cause)) {
      throw new TRPCError({
        code: "SERVICE_UNAVAILABLE",
        message: "The database is unavailable for a moment; retry the request",
        cause: result.error.cause,
      });
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

/** What workers call: a secret key, not charged against the request limit (see limits/request-rate-limit.ts). */
export const workerProcedure = baseProcedure.use(async ({ ctx, next }) => {
  const caller = await authenticateContext(ctx, { charge: false });
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
