import type { Kysely } from "kysely";
import type { Database, EnvironmentType } from "../../db/schema.js";
import { transaction } from "../../db/transaction.js";
import { friendlyId } from "../../shared/ids.js";
import type { Bus } from "../adapters/bus.js";
import type { AuthDeps } from "./authenticate.js";
import { announceRevocation, type KeyCache } from "./key-cache.js";
import { displayPrefix, environmentTypeOfKey, generateSecretKey, hashSecretKey } from "./keys.js";
import type { KeyVault } from "./vault.js";

const keyRow = (vault: KeyVault, environmentId: string, secretKey: string) => ({
  id: friendlyId("env").replace("env_", "key_"),
  environment_id: environmentId,
  key_hash: hashSecretKey(secretKey),
  key_prefix: displayPrefix(secretKey),
  key_ciphertext: vault.encrypt(secretKey),
});

export interface CreatedEnvironment {
  environmentId: string;
  project: string;
  type: EnvironmentType;
  secretKey: string;
}

export async function createEnvironment(
  { db, vault }: AuthDeps,
  options: { type: EnvironmentType; project?: string; secretKey?: string },
): Promise<CreatedEnvironment> {
  const secretKey = options.secretKey ?? generateSecretKey(options.type);
  const environmentId = friendlyId("env");
  const project = options.project ?? "default";
  await transaction(db, async (trx) => {
    await trx.insertInto("environments").values({ id: environmentId, project, type: options.type }).execute();
    await trx
      .insertInto("api_keys")
      .values(keyRow(vault, environmentId, secretKey))
      .execute();
  });
  return { environmentId, project, type: options.type, secretKey };
}

/** Adds another secret key to an existing environment (e.g. before rotating the old one out). */
export async function createApiKey({ db, vault }: AuthDeps, environmentId: string): Promise<string> {
  const env = await db
    .selectFrom("environments")
    .select(["id", "type"])
    .where("id", "=", environmentId)
    .executeTakeFirst();
  if (!env) throw new Error(`No environment ${environmentId}`);
  const secretKey = generateSecretKey(env.type);
  await db
    .insertInto("api_keys")
    .values(keyRow(vault, env.id, secretKey))
    .execute();
  return secretKey;
}

/**
 * Revokes a key. Servers cache the keys they accepted (`KeyCache`): this process forgets it at
 * once, and other processes when the announcement on `bus` reaches them, or at the latest when
 * their cache entry expires (SALVO_AUTH_CACHE_MS) if it never does (no bus, Redis down).
 */
export async function revokeApiKey(
  { db, bus, keyCache }: { db: Kysely<Database>; bus?: Bus; keyCache?: KeyCache },
  keyId: string,
): Promise<boolean> {
  const r = await db
    .updateTable("api_keys")
    .set({ revoked_at: new Date() })
    .where("id", "=", keyId)
    .where("revoked_at", "is", null)
    .executeTakeFirst();
  if (r.numUpdatedRows === 0n) return false;
  keyCache?.forgetKey(keyId);
  if (bus) await announceRevocation(bus, keyId);
  return true;
}

export async function listEnvironments(db: Kysely<Database>) {
  return db
    .selectFrom("environments as e")
    .leftJoin("api_keys as k", "k.environment_id", "e.id")
    .select(["e.id", "e.project", "e.type", "e.created_at", "k.id as key_id", "k.key_prefix", "k.revoked_at"])
    .orderBy("e.created_at")
    .orderBy("k.created_at")
    .execute();
}

/**
 * Start-up provisioning. With a bootstrap key, an environment owning exactly that key exists
 * afterwards (created on first start, found on later ones). Without one, a brand-new database
 * gets a dev environment whose key is returned so it can be printed once.
 */
export async function bootstrapEnvironment(
  deps: AuthDeps,
  bootstrapKey: string | undefined,
): Promise<CreatedEnvironment | undefined> {
  if (bootstrapKey) {
    const type = environmentTypeOfKey(bootstrapKey);
    if (!type) throw new Error("SALVO_BOOTSTRAP_KEY must start with tr_dev_, tr_stg_, tr_prod_ or tr_preview_");
    const existing = await deps.db
      .selectFrom("api_keys")
      .select("id")
      .where("key_hash", "=", hashSecretKey(bootstrapKey))
      .executeTakeFirst();
    if (existing) return undefined;
    return createEnvironment(deps, { type, project: "default", secretKey: bootstrapKey });
  }
  const any = await deps.db.selectFrom("environments").select("id").limit(1).executeTakeFirst();
  if (any) return undefined;
  return createEnvironment(deps, { type: "dev", project: "default" });
}
