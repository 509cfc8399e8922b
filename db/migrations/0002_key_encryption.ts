import type { Kysely } from "kysely";

/**
 * Public access tokens are HS256 JWTs signed with an environment's secret key (the SDK signs some
 * itself), so verifying one needs the key. Keys stay looked up by hash; beside the hash each key
 * is kept encrypted under the server's master secret. `settings` holds a generated master secret
 * when none is configured.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("api_keys").addColumn("key_ciphertext", "text").execute();
  await db.schema
    .createTable("settings")
    .addColumn("name", "text", (c) => c.primaryKey())
    .addColumn("value", "text", (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("settings").execute();
  await db.schema.alterTable("api_keys").dropColumn("key_ciphertext").execute();
}
