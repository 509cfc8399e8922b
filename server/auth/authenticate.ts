import { TRPCError } from "@trpc/server";
import type { Kysely } from "kysely";
import type { Database, EnvironmentType } from "../../db/schema.js";
import { digestsEqual, hashSecretKey } from "./keys.js";

export interface AuthenticatedEnvironment {
  id: string;
  project: string;
  type: EnvironmentType;
}

export interface Caller {
  environment: AuthenticatedEnvironment;
  /** The secret key the request presented; public tokens are signed with it. */
  secretKey: string;
}

/** Reads `Authorization: Bearer <secret key>` and finds the environment that owns the key. */
export async function authenticate(db: Kysely<Database>, authorization: string | undefined): Promise<Caller> {
  const token = /^Bearer\s+(.+)$/i.exec(authorization?.trim() ?? "")?.[1]?.trim();
  if (!token) {
    throw new TRPCError({ code: "UNAUTHORIZED", message: "Invalid or Missing API key: send Authorization: Bearer <secret key>" });
  }
  if (token.startsWith("tr_pat_")) {
    throw new TRPCError({
      code: "UNAUTHORIZED",
      message: "Personal Access Tokens are not accepted here: this endpoint requires an environment secret key (tr_dev_…, tr_stg_…, tr_prod_…)",
    });
  }
  const hash = hashSecretKey(token);
  const row = await db
    .selectFrom("api_keys as k")
    .innerJoin("environments as e", "e.id", "k.environment_id")
    .select(["k.key_hash", "e.id", "e.project", "e.type"])
    .where("k.key_hash", "=", hash)
    .where("k.revoked_at", "is", null)
    .executeTakeFirst();
  // The lookup goes through an index on the digest; the final check is constant-time all the same.
  if (!row || !digestsEqual(row.key_hash, hash)) {
    throw new TRPCError({ code: "UNAUTHORIZED", message: "Invalid API key" });
  }
  return { environment: { id: row.id, project: row.project, type: row.type }, secretKey: token };
}
