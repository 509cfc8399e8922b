import type { FastifyInstance } from "fastify";
import { parseDurationSeconds } from "../../shared/durations.js";
import { CreatePublicTokenBodySchema } from "../../shared/rest-api.js";
import { publicTokenClaims, signPublicToken } from "../auth/jwt.js";
import type { Deps } from "../deps.js";
import { badRequest } from "../errors.js";
import { objectBody, restHandler } from "./context.js";

/** The SDK's default lifetime for a public token (`auth.createPublicToken` without `expirationTime`). */
const DEFAULT_TTL_SECONDS = 15 * 60;

const LONG_UNITS: Record<string, number> = {
  s: 1,
  sec: 1,
  second: 1,
  m: 60,
  min: 60,
  minute: 60,
  h: 3600,
  hr: 3600,
  hour: 3600,
  d: 86_400,
  day: 86_400,
  w: 604_800,
  week: 604_800,
};

/**
 * `expirationTime` as the SDK passes it: Unix seconds (a number, or a Date it converted), or a
 * duration from now: "15m", "1h30m", or the spelled-out forms jose accepts ("2 hours").
 */
export function expiresAtFrom(expirationTime: number | string | undefined, nowSeconds: number): number {
  if (expirationTime === undefined) return nowSeconds + DEFAULT_TTL_SECONDS;
  if (typeof expirationTime === "number") return Math.floor(expirationTime);
  const compact = parseDurationSeconds(expirationTime);
  if (compact !== undefined) return nowSeconds + compact;
  const long = /^(\d+)\s*([a-z]+?)s?$/i.exec(expirationTime.trim());
  const unit = long && LONG_UNITS[long[2]!.toLowerCase()];
  if (long && unit) return nowSeconds + Number(long[1]) * unit;
  throw badRequest(`expirationTime must be Unix seconds or a duration like "15m" or "2h", got "${expirationTime}"`);
}

/**
 * Public access tokens, as `auth.createPublicToken` asks for them. With a root secret key the SDK
 * fetches the claims and signs locally; with an additional key (`tr_<env>_sk_…`) it cannot sign
 * and asks the server to mint the token. Both need a secret key, never a public token.
 */
export function registerAuthTokenRoutes(app: FastifyInstance, deps: Deps) {
  // The SDK posts this with `Content-Type: application/json` and no body at all.
  app.post(
    "/api/v1/auth/jwt/claims",
    restHandler(deps, async (_req, reply, call) => {
      const caller = await call.who();
      return reply.send(publicTokenClaims(caller.environment.id));
    }),
  );

  app.post(
    "/api/v1/auth/public-tokens",
    restHandler(deps, async (req, reply, call) => {
      const caller = await call.who();
      if (caller.kind !== "secret") throw badRequest("A secret key is required to mint public tokens");
      const body = CreatePublicTokenBodySchema.parse(objectBody(req));
      const now = Math.floor(Date.now() / 1000);
      const expiresAt = expiresAtFrom(body.expirationTime, now);
      if (expiresAt <= now) throw badRequest("expirationTime must be in the future");
      const maxTtl = deps.config.tokens.maxTtlSeconds;
      if (expiresAt - now > maxTtl) {
        throw badRequest(
          `expirationTime is more than ${maxTtl} s away: this server's SALVO_MAX_TOKEN_TTL_SECONDS does not allow longer-lived tokens`,
        );
      }
      const token = await signPublicToken({
        environmentId: caller.environment.id,
        secretKey: caller.secretKey,
        scopes: body.scopes,
        expiresAt,
        extraClaims: {
          ...(body.realtime !== undefined ? { realtime: body.realtime } : {}),
          ...(body.oneTimeUse !== undefined ? { otu: body.oneTimeUse } : {}),
        },
      });
      return reply.send({ token });
    }),
  );
}
