import { createHash } from "node:crypto";
import { TRPCError } from "@trpc/server";
import { compactVerify, decodeJwt, decodeProtectedHeader } from "jose";
import type { Kysely } from "kysely";
import type { Database } from "../../db/schema.js";
import type { BackgroundTask } from "../background.js";
import type { Config } from "../config.js";
import { hmacKey, JWT_AUDIENCE, JWT_ISSUER } from "./jwt.js";
import type { KeyVault } from "./vault.js";

export interface PublicTokenClaims {
  environmentId: string;
  scopes: string[];
  /** The secret key whose signature matched (`api_keys.id`). */
  keyId: string;
}

export interface TokenDeps {
  db: Kysely<Database>;
  vault: KeyVault;
  config: Pick<Config, "tokens">;
}

const invalid = (message = "Public Access Token is invalid") => new TRPCError({ code: "UNAUTHORIZED", message });

/** True when the bearer value has the shape of a JWT (three base64url parts). */
export const looksLikeJwt = (token: string) => /^[\w-]+\.[\w-]+\.[\w-]+$/.test(token);

/** The header and claims of a compact JWT, unverified; malformed ones are refused as invalid. */
function decode(token: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  try {
    return { header: decodeProtectedHeader(token), claims: decodeJwt(token) };
  } catch {
    throw invalid();
  }
}

/**
 * Verifies a public access token: HS256, `pub: true`, `sub` = an environment id, Trigger.dev's
 * issuer and audience, within its `nbf`..`exp`, a lifetime of at most SALVO_MAX_TOKEN_TTL_SECONDS,
 * and signed with one of that environment's live secret keys (Salvo's own tokens and the ones
 * the SDK signs itself are both signed with the secret key). A one-time-use token (`otu: true`)
 * is used up by the request that presents it first.
 */
export async function verifyPublicToken(deps: TokenDeps, token: string): Promise<PublicTokenClaims> {
  const { db, vault } = deps;
  const { header, claims } = decode(token);
  if (header.alg !== "HS256") throw invalid("Public Access Token must be signed with HS256");
  if (claims.pub !== true || typeof claims.sub !== "string") throw invalid();
  checkValidityWindow(claims, deps.config.tokens.maxTtlSeconds);
  // Issuer and audience as Trigger.dev (and the SDK, when it signs) set them: a token minted for
  // some other purpose with the same key is not a public access token.
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (claims.iss !== JWT_ISSUER || !audiences.includes(JWT_AUDIENCE)) throw invalid();
  const scopes = Array.isArray(claims.scopes) ? claims.scopes.filter((s): s is string => typeof s === "string") : [];

  const keys = await db
    .selectFrom("api_keys")
    .select(["id", "key_ciphertext"])
    .where("environment_id", "=", claims.sub)
    .where("revoked_at", "is", null)
    .where("key_ciphertext", "is not", null)
    .execute();
  for (const { id, key_ciphertext } of keys) {
    const secret = vault.decrypt(key_ciphertext!);
    if (secret === undefined || !(await signedWith(token, secret))) continue;
    if (claims.otu === true) await useOnce(db, token, claims.exp as number);
    return { environmentId: claims.sub, scopes, keyId: id };
  }
  throw invalid();
}

/** Whether `token` carries a valid HS256 signature made with `secret` (jose compares in constant time). */
async function signedWith(token: string, secret: string): Promise<boolean> {
  try {
    await compactVerify(token, hmacKey(secret), { algorithms: ["HS256"] });
    return true;
  } catch {
    return false;
  }
}

/**
 * `exp` (required), `nbf` (optional) and the lifetime cap. A token whose lifetime (from `iat`, or
 * from now without one) is longer than the cap is refused rather than cut short: its holder
 * learns at once that the server will not honour it, instead of it failing some time later.
 */
function checkValidityWindow(claims: Record<string, unknown>, maxTtlSeconds: number) {
  const now = Date.now() / 1000;
  if (typeof claims.exp !== "number" || claims.exp <= now) throw invalid("Public Access Token has expired");
  if (claims.nbf !== undefined && typeof claims.nbf !== "number") throw invalid();
  if (typeof claims.nbf === "number" && claims.nbf > now) throw invalid("Public Access Token is not valid yet");
  if (claims.iat !== undefined && typeof claims.iat !== "number") throw invalid();
  const issuedAt = typeof claims.iat === "number" ? Math.min(claims.iat, now) : now;
  if (claims.exp - issuedAt > maxTtlSeconds || claims.exp - now > maxTtlSeconds) {
    throw invalid(
      `Public Access Token lifetime is longer than this server allows (${maxTtlSeconds} s): sign it with a nearer expiry`,
    );
  }
}

/** Records the token as used, or refuses it if it already was (the primary key decides races). */
async function useOnce(db: Kysely<Database>, token: string, exp: number) {
  const tokenHash = createHash("sha256").update(token).digest("hex");
  const inserted = await db
    .insertInto("used_tokens")
    .values({ token_hash: tokenHash, expires_at: new Date(exp * 1000) })
    .onConflict((oc) => oc.column("token_hash").doNothing())
    .returning("token_hash")
    .executeTakeFirst();
  if (!inserted) throw invalid("This one-time-use Public Access Token has already been used");
}

/** Forgets used one-time tokens once they have expired (they are refused as expired from then on). */
export async function pruneUsedTokens(db: Kysely<Database>, now = new Date()): Promise<number> {
  const result = await db.deleteFrom("used_tokens").where("expires_at", "<", now).executeTakeFirst();
  return Number(result.numDeletedRows);
}

export const pruneUsedTokensTask: BackgroundTask = {
  name: "prune-used-tokens",
  intervalMs: 10 * 60_000,
  run: async (deps) => void (await pruneUsedTokens(deps.db)),
};
