import { initTRPC } from "@trpc/server";
import superjson from "superjson";
import { authenticate, type Caller } from "../auth/authenticate.js";
import type { Deps } from "../deps.js";

/**
 * Every call carries the service's dependencies and the raw Authorization header; the `authed`
 * procedure turns the header into the caller's environment. REST builds the same context.
 */
export interface Context {
  deps: Deps;
  authorization: string | undefined;
  /** Memo: a REST request makes many calls (one per stream chunk) but authenticates once. */
  auth?: Promise<Caller>;
}

export function authenticateContext(ctx: Context): Promise<Caller> {
  return (ctx.auth ??= authenticate(ctx.deps.db, ctx.authorization));
}

const t = initTRPC.context<Context>().create({
  transformer: superjson,
  sse: { ping: { enabled: true, intervalMs: 10_000 }, client: { reconnectAfterInactivityMs: 30_000 } },
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

export const authedProcedure = t.procedure.use(async ({ ctx, next }) => {
  const caller = await authenticateContext(ctx);
  return next({ ctx: { ...ctx, caller, environment: caller.environment } });
});
