import { createHmac, timingSafeEqual } from "node:crypto";
import { TRPCError } from "@trpc/server";
import type { Kysely } from "kysely";
import type { Database } from "../../db/schema.js";
import { JWT_AUDIENCE, JWT_ISSUER } from "./jwt.js";
import type { KeyVault } from "./vault.js";

export interface PublicTokenClaims {
  environmentId: string;
  scopes: string[];
}

const invalid = (message = "Public Access Token is invalid") => new TRPCError({ code: "UNAUTHORIZED", message });

/** True when the bearer value has the shape of a JWT (three base64url parts). */
export const looksLikeJwt = (token: string) => /^[\w-]+\.[\w-]+\.[\w-]+$/.test(token);

function decodePart(part: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw invalid();
}

/**
 * Verifies a public access token: HS256, `pub: true`, `sub` = an environment id, not expired,
 * Trigger.dev's issuer and audience,
 * and signed with one of that environment's live secret keys (Salvo's own tokens and the ones
 * the SDK signs itself are both signed with the secret key).
 */
export async function verifyPublicToken(db: Kysely<Database>, vault: KeyVault, token: string): Promise<PublicTokenClaims> {
  const [headerPart, payloadPart, signaturePart] = token.split(".");
  if (!headerPart || !payloadPart || !signaturePart) throw invalid();
  const header = decodePart(headerPart);
  if (header.alg !== "HS256") throw invalid("Public Access Token must be signed with HS256");
  const claims = decodePart(payloadPart);
  if (claims.pub !== true || typeof claims.sub !== "string") throw invalid();
  if (typeof claims.exp !== "number" || claims.exp * 1000 <= Date.now()) throw invalid("Public Access Token has expired");
  // Issuer and audience as Trigger.dev (and the SDK, when it signs) set them: a token minted for
  // some other purpose with the same key is not a public access token.
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (claims.iss !== JWT_ISSUER || !audiences.includes(JWT_AUDIENCE)) throw invalid();
  const scopes = Array.isArray(claims.scopes) ? claims.scopes.filter((s): s is string => typeof s === "string") : [];

  const keys = await db
    .selectFrom("api_keys")
    .select("key_ciphertext")
    .where("environment_id", "=", claims.sub)
    .where("revoked_at", "is", null)
    .where("key_ciphertext", "is not", null)
    .execute();
  const signature = Buffer.from(signaturePart, "base64url");
  const signed = `${headerPart}.${payloadPart}`;
  for (const { key_ciphertext } of keys) {
    const secret = vault.decrypt(key_ciphertext!);
    if (secret === undefined) continue;
    const expected = createHmac("sha256", secret).update(signed).digest();
    if (expected.length === signature.length && timingSafeEqual(expected, signature)) {
      return { environmentId: claims.sub, scopes };
    }
  }
  throw invalid();
}
