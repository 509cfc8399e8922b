import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from "node:crypto";
import type { Kysely } from "kysely";
import type { Database } from "../../db/schema.js";

/**
 * Encrypts secret keys at rest (AES-256-GCM) under a master secret, so the server can verify
 * JWTs signed with a key without storing the key in the clear. Lookups never use this: they go
 * through the key's SHA-256 digest.
 */
export class KeyVault {
  readonly #key: Buffer;

  constructor(masterSecret: string) {
    this.#key = createHash("sha256").update(masterSecret, "utf8").digest();
  }

  encrypt(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.#key, iv);
    const data = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    return ["v1", iv.toString("base64url"), cipher.getAuthTag().toString("base64url"), data.toString("base64url")].join(
      ".",
    );
  }

  /**
   * An HMAC-SHA256 of `message` under a key derived from the master secret for `purpose` only, so
   * a signature made for one use (e.g. packet URLs) can never be replayed as another.
   */
  mac(purpose: string, message: string): Buffer {
    const key = createHmac("sha256", this.#key).update(`salvo/${purpose}`).digest();
    return createHmac("sha256", key).update(message).digest();
  }

  /** Undefined when the text was not made by this vault's master secret. */
  decrypt(sealed: string): string | undefined {
    const [version, iv, tag, data] = sealed.split(".");
    if (version !== "v1" || !iv || !tag || data === undefined) return undefined;
    try {
      const decipher = createDecipheriv("aes-256-gcm", this.#key, Buffer.from(iv, "base64url"));
      decipher.setAuthTag(Buffer.from(tag, "base64url"));
      return Buffer.concat([decipher.update(Buffer.from(data, "base64url")), decipher.final()]).toString("utf8");
    } catch {
      return undefined;
    }
  }
}

const GENERATED_SECRET = "generated_master_secret";

/**
 * The configured master secret (`SALVO_SECRET`), or else one generated once and kept in the
 * database so every server process sharing it agrees. The generated one protects only against
 * reading the keys table on its own; production deployments set `SALVO_SECRET`.
 */
export async function openVault(db: Kysely<Database>, configured: string | undefined): Promise<KeyVault> {
  if (configured) return new KeyVault(configured);
  await db
    .insertInto("settings")
    .values({ name: GENERATED_SECRET, value: randomBytes(32).toString("base64url") })
    .onConflict((oc) => oc.column("name").doNothing())
    .execute();
  const row = await db
    .selectFrom("settings")
    .select("value")
    .where("name", "=", GENERATED_SECRET)
    .executeTakeFirstOrThrow();
  return new KeyVault(row.value);
}
