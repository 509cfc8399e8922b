import { initTRPC } from "@trpc/server";
import superjson from "superjson";
import { authenticate, type Caller } from "../auth/authenticate.js";
import type { Deps } from "../deps.js";
import { RateLimitExceededError } from "../limits/batch-rate-limit.js";
import { chargeRequest } from "../limits/request-rate-limit.js";
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
  /** Memo: the request's one charge against its environment's request limit. */
  charged?: Promise<void>;
}

/**
 * The caller of this request; public access tokens only where `allowPublicTokens` is set. The
 * request is charged once against its environment's request limit (limits/request-rate-limit.ts)
 * unless `charge` is false (workers' calls).
 */
export async function authenticateContext(ctx: Context, { allowPublicTokens = false, charge = true } = {}): Promise<Caller> {
  const memo = (ctx.auth ??= {});
  const caller = await (allowPublicTokens
    ? (memo.allowingPublic ??= authenticate(ctx.deps, ctx.authorization, { allowPublicTokens: true }))
    : (memo.secretOnly ??= authenticate(ctx.deps, ctx.authorization, { allowPublicTokens: false })));
  if (charge) await (ctx.charged ??= chargeRequest(ctx.deps, caller.environment.id));
  return caller;
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
 * Input Postgres cannot store (a NUL character in any string: ids, keys, tags, metadata; JSON
 * nested too deep...) is the client's mistake, so a 400 rather than a 500. Checked here once for
 * every procedure instead of in each schema's strings.
 */
const storableInput = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok) {
    const input = inputErrorFromDatabase(result.error.cause);
    if (input) throw input;
  }
  return result;
});
const baseProcedure = t.procedure.use(storableInput);

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
