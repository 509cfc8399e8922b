import type { Kysely } from "kysely";
import type { Database, EnvironmentType } from "../../db/schema.js";
import { unauthorized } from "../errors.js";
import type { KeyCache } from "./key-cache.js";
import { digestsEqual, hashSecretKey } from "./keys.js";
import { looksLikeJwt, type TokenDeps, verifyPublicToken } from "./tokens.js";
import type { KeyVault } from "./vault.js";

export interface AuthenticatedEnvironment {
  id: string;
  project: string;
  type: EnvironmentType;
}

/**
 * Who is calling: an environment's secret key (may do anything in its environment), or a public
 * access token (a JWT that may only do what its `scopes` say).
 */
export type Caller =
  | { kind: "secret"; environment: AuthenticatedEnvironment; secretKey: string; keyId: string }
  | { kind: "public"; environment: AuthenticatedEnvironment; scopes: string[]; keyId: string };

export interface AuthDeps {
  db: Kysely<Database>;
  vault: KeyVault;
}

/**
 * Reads `Authorization: Bearer …`. Secret keys are found by digest; JWTs are accepted only where
 * `allowPublicTokens` says so (read endpoints check the token's scopes themselves).
 */
export async function authenticate(
  deps: TokenDeps & { keyCache?: KeyCache },
  authorization: string | undefined,
  options: { allowPublicTokens: boolean },
): Promise<Caller> {
  const { db } = deps;
  const token = /^Bearer\s+(.+)$/i.exec(authorization?.trim() ?? "")?.[1]?.trim();
  if (!token) {
    throw unauthorized("Invalid or Missing API key: send Authorization: Bearer <secret key>");
  }
  if (token.startsWith("tr_pat_")) {
    throw unauthorized(
      "Personal Access Tokens are not accepted here: this endpoint requires an environment secret key (tr_dev_…, tr_stg_…, tr_prod_…)",
    );
  }
  if (looksLikeJwt(token)) {
    if (!options.allowPublicTokens) {
      throw unauthorized(
        "This endpoint requires an environment secret key; public access tokens are not accepted here",
      );
    }
    const claims = await verifyPublicToken(deps, token);
    const environment = await db
      .selectFrom("environments")
      .select(["id", "project", "type"])
      .where("id", "=", claims.environmentId)
      .executeTakeFirst();
    if (!environment) throw unauthorized("Public Access Token is invalid");
    return { kind: "public", environment, scopes: claims.scopes, keyId: claims.keyId };
  }
  const hash = hashSecretKey(token);
  // A key found by its digest, so the digest is the proof: the cache holds only digests the database accepted.
  const cached = deps.keyCache?.get(hash);
  if (cached) return { kind: "secret", environment: cached.environment, secretKey: token, keyId: cached.keyId };
  const generation = deps.keyCache?.generation() ?? 0;
  const row = await db
    .selectFrom("api_keys as k")
    .innerJoin("environments as e", "e.id", "k.environment_id")
    .select(["k.id as key_id", "k.key_hash", "e.id", "e.project", "e.type"])
    .where("k.key_hash", "=", hash)
    .where("k.revoked_at", "is", null)
    .executeTakeFirst();
  // The lookup goes through an index on the digest; the final check is constant-time all the same.
  if (!row || !digestsEqual(row.key_hash, hash)) {
    throw unauthorized("Invalid API key");
  }
  const environment = { id: row.id, project: row.project, type: row.type };
  deps.keyCache?.set(hash, { keyId: row.key_id, environment }, generation);
  return { kind: "secret", environment, secretKey: token, keyId: row.key_id };
}
