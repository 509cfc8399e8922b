import type { Kysely } from "kysely";
import type { Database } from "../../db/schema.js";

/** The longest packet path accepted (the SDK's are ~50 characters: `trigger/packet_<id>/payload.json`). */
export const MAX_PACKET_PATH_LENGTH = 1024;

export interface StoredPacket {
  contentType: string;
  data: Buffer;
}

/** Stores (or replaces: uploads are retried) the bytes of a packet of an environment. */
export async function putPacket(
  db: Kysely<Database>,
  environmentId: string,
  path: string,
  contentType: string,
  data: Buffer,
): Promise<void> {
  await db
    .insertInto("packets")
    .values({ environment_id: environmentId, path, content_type: contentType, data, size: data.length })
    .onConflict((oc) =>
      oc
        .columns(["environment_id", "path"])
        .doUpdateSet({ content_type: contentType, data, size: data.length, created_at: new Date() }),
    )
    .execute();
}

export async function getPacket(
  db: Kysely<Database>,
  environmentId: string,
  path: string,
): Promise<StoredPacket | undefined> {
  const row = await db
    .selectFrom("packets")
    .select(["content_type", "data"])
    .where("environment_id", "=", environmentId)
    .where("path", "=", path)
    .executeTakeFirst();
  // node-postgres gives a Buffer for bytea, PGlite a plain Uint8Array.
  return row && { contentType: row.content_type, data: Buffer.from(row.data) };
}

/** The paths among `paths` that name no packet of the environment. */
export async function missingPackets(db: Kysely<Database>, environmentId: string, paths: string[]): Promise<string[]> {
  const wanted = [...new Set(paths)];
  if (wanted.length === 0) return [];
  const found = await db
    .selectFrom("packets")
    .select("path")
    .where("environment_id", "=", environmentId)
    .where("path", "in", wanted)
    .execute();
  const present = new Set(found.map((r) => r.path));
  return wanted.filter((p) => !present.has(p));
}
