/**
 * `salvo env …` and `salvo key …`: environments and API keys, managed by opening the database
 * directly (no server and no key needed). The database modules load only when one of these
 * commands runs, so help and usage errors answer at once.
 */
import type { Connection } from "../../db/connect.js";
import type { EnvironmentType } from "../../db/schema.js";
import { CommandError, EXIT } from "./settings.js";

type Out = (line: string) => void;

async function withDatabase(
  use: (connection: Connection, lib: Awaited<ReturnType<typeof loadLib>>) => Promise<void>,
): Promise<number> {
  const lib = await loadLib();
  // Interrupted: exit through process.exit, so the embedded database's lock is released.
  process.once("SIGINT", () => process.exit(130));
  process.once("SIGTERM", () => process.exit(143));
  let connection: Connection;
  try {
    connection = await lib.openMigratedDatabase();
  } catch (e) {
    throw new CommandError((e as Error).message);
  }
  try {
    await use(connection, lib);
    return EXIT.ok;
  } finally {
    await connection.close();
  }
}

async function loadLib() {
  const [{ openMigratedDatabase }, environments, { hashSecretKey }, { openVault }, { createBus }] = await Promise.all([
    import("../../db/open.js"),
    import("../../server/auth/environments.js"),
    import("../../server/auth/keys.js"),
    import("../../server/auth/vault.js"),
    import("../../server/adapters/bus.js"),
  ]);
  return { openMigratedDatabase, ...environments, hashSecretKey, openVault, createBus };
}

export function envCreate(options: { type: EnvironmentType; project?: string }, out: Out) {
  if (options.project === "") throw new CommandError("--project must not be empty", 2);
  return withDatabase(async ({ db }, lib) => {
    const env = await lib.createEnvironment(
      { db, vault: await lib.openVault(db, process.env.SALVO_SECRET) },
      { type: options.type, project: options.project },
    );
    out(`environment ${env.environmentId} (${env.type}, project ${env.project})`);
    out(`secret key: ${env.secretKey}`);
    out("Store this key now: it is not shown again.");
  });
}

export function envList(out: Out) {
  return withDatabase(async ({ db }, lib) => {
    const rows = await lib.listEnvironments(db);
    const seen = new Set<string>();
    for (const row of rows) {
      if (seen.has(row.id)) continue;
      seen.add(row.id);
      const active = rows.filter((r) => r.id === row.id && r.key_id !== null && r.revoked_at === null).length;
      out(`${row.id}\t${row.type}\t${row.project}\t${active} active key(s)\t${new Date(row.created_at).toISOString()}`);
    }
    if (seen.size === 0) out("no environments");
  });
}

export function keyCreate(envId: string, out: Out) {
  return withDatabase(async ({ db }, lib) => {
    const key = await lib.createApiKey({ db, vault: await lib.openVault(db, process.env.SALVO_SECRET) }, envId);
    // Its id is what `key revoke` takes; keys are stored by digest, so look it up that way.
    const row = await db
      .selectFrom("api_keys")
      .select("id")
      .where("key_hash", "=", lib.hashSecretKey(key))
      .executeTakeFirstOrThrow();
    out(`key ${row.id} for ${envId}`);
    out(`secret key: ${key}`);
    out("Store this key now: it is not shown again.");
  });
}

export function keyList(out: Out) {
  return withDatabase(async ({ db }, lib) => {
    const keys = (await lib.listEnvironments(db)).filter((r) => r.key_id !== null);
    for (const k of keys)
      out(`${k.key_id}\t${k.id}\t${k.type}\t${k.key_prefix}\t${k.revoked_at ? "revoked" : "active"}`);
    if (keys.length === 0) out("no keys");
  });
}

export function keyRevoke(keyId: string, out: Out) {
  return withDatabase(async ({ db }, lib) => {
    // Servers trust a key they accepted for SALVO_AUTH_CACHE_MS: with REDIS_URL they are told at once.
    // Redis not answering is said on stderr; the revocation itself is in the database either way.
    const bus = process.env.REDIS_URL
      ? lib.createBus(process.env.REDIS_URL, (message) => process.stderr.write(`${message}\n`))
      : undefined;
    try {
      if (!(await lib.revokeApiKey({ db, bus }, keyId)))
        throw new CommandError(`no active key ${keyId} (see \`salvo key list\`)`);
    } finally {
      await bus?.close();
    }
    out(`revoked ${keyId}`);
  });
}
