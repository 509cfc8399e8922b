import { SignJWT } from "jose";

export const JWT_ISSUER = "https://id.trigger.dev";
export const JWT_AUDIENCE = "https://api.trigger.dev";

/** The HMAC key of a secret: its UTF-8 bytes, as the SDK (jose) keys the tokens it signs. */
export const hmacKey = (secret: string) => new TextEncoder().encode(secret);

/** An HS256 JWT, the form Trigger.dev's public access tokens take. The claims are signed as given. */
export function signHs256(claims: Record<string, unknown>, secret: string): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(hmacKey(secret));
}

/**
 * A public access token: `{sub: <environment id>, pub: true, scopes, ...extra}` with Trigger.dev's
 * issuer and audience, HS256-signed with a secret key of the environment (what the SDK does
 * itself when it signs; `tokens.ts` verifies against every live key of the environment).
 */
export function signPublicToken(options: {
  environmentId: string;
  secretKey: string;
  scopes: string[];
  /** Unix seconds. */
  expiresAt: number;
  extraClaims?: Record<string, unknown>;
}): Promise<string> {
  const iat = Math.floor(Date.now() / 1000);
  return signHs256(
    {
      ...options.extraClaims,
      ...publicTokenClaims(options.environmentId),
      scopes: options.scopes,
      iss: JWT_ISSUER,
      aud: JWT_AUDIENCE,
      iat,
      exp: options.expiresAt,
    },
    options.secretKey,
  );
}

/** The claims every public token of an environment starts from (`x-trigger-jwt-claims`, `/api/v1/auth/jwt/claims`). */
export const publicTokenClaims = (environmentId: string) => ({ sub: environmentId, pub: true as const });

/**
 * The public access token handed back with a new batch or run: readable by browsers, scoped to
 * that one resource, valid for `ttlSeconds` (an hour by default). Signed with the caller's own secret key, which is the
 * environment's secret (keys are only stored hashed, so the request is where the secret is).
 */
export async function publicAccessToken(options: {
  environmentId: string;
  secretKey: string;
  scopes: string[];
  ttlSeconds?: number;
}) {
  const token = await signPublicToken({
    environmentId: options.environmentId,
    secretKey: options.secretKey,
    scopes: options.scopes,
    expiresAt: Math.floor(Date.now() / 1000) + (options.ttlSeconds ?? 3600),
  });
  return { token, claims: publicTokenClaims(options.environmentId) };
}
