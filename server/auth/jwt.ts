import { createHmac } from "node:crypto";

export const JWT_ISSUER = "https://id.trigger.dev";
export const JWT_AUDIENCE = "https://api.trigger.dev";

const base64url = (data: string | Buffer) => Buffer.from(data).toString("base64url");

/** An HS256 JWT, the form Trigger.dev's public access tokens take. */
export function signHs256(claims: Record<string, unknown>, secret: string): string {
  const header = base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = base64url(JSON.stringify(claims));
  const signature = createHmac("sha256", secret).update(`${header}.${body}`).digest("base64url");
  return `${header}.${body}.${signature}`;
}

/**
 * The public access token handed back with a new batch or run: readable by browsers, scoped to
 * that one resource, valid for an hour. Signed with the caller's own secret key, which is the
 * environment's secret (keys are only stored hashed, so the request is where the secret is).
 */
export function publicAccessToken(options: { environmentId: string; secretKey: string; scopes: string[]; ttlSeconds?: number }) {
  const iat = Math.floor(Date.now() / 1000);
  const claims = { sub: options.environmentId, pub: true as const };
  const token = signHs256(
    { ...claims, scopes: options.scopes, iss: JWT_ISSUER, aud: JWT_AUDIENCE, iat, exp: iat + (options.ttlSeconds ?? 3600) },
    options.secretKey,
  );
  return { token, claims };
}
