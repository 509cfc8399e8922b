import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { type Connection, connect } from "./connect.js";
import { DataDirLockedError } from "./data-dir-lock.js";
import { migrateToLatest } from "./migrate.js";

export interface OpenOptions {
  /**
   * Create the embedded database when SALVO_DATA_DIR holds none. Off for the CLI: run from
   * another directory, it would otherwise make (and write to) a new, empty `.salvo` there.
   */
  create?: boolean;
}

/**
 * Opens the database the way the server would (DATABASE_URL, else embedded PGlite under
 * SALVO_DATA_DIR) and brings its schema up to date. For command-line tools that run beside or
 * instead of a server.
 */
export async function openMigratedDatabase(
  env: NodeJS.ProcessEnv = process.env,
  options: OpenOptions = {},
): Promise<Connection> {
  const databaseUrl = env.DATABASE_URL || undefined;
  const dataDir = env.SALVO_DATA_DIR || "./.salvo";
  // PGlite writes PG_VERSION when it creates a database: without it there is nothing to open.
  if (!databaseUrl && !options.create && !existsSync(join(dataDir, "PG_VERSION"))) {
    throw new Error(
      `no Salvo database in ${resolve(dataDir)} (SALVO_DATA_DIR, default ./.salvo): run this where the server keeps ` +
        `its data, set SALVO_DATA_DIR or DATABASE_URL, or create one there with \`npm run migrate\``,
    );
  }
  let connection: Connection;
  try {
    connection = await connect({ databaseUrl, dataDir, poolSize: 2 });
  } catch (err) {
    throw new Error(describeOpenFailure(err, databaseUrl, dataDir));
  }
  try {
    await migrateToLatest(connection.db);
  } catch (err) {
    await connection.close().catch(() => {});
    throw new Error(describeOpenFailure(err, databaseUrl, dataDir));
  }
  return connection;
}

function describeOpenFailure(err: unknown, databaseUrl: string | undefined, dataDir: string): string {
  const reason = err instanceof Error ? err.message : String(err);
  if (databaseUrl) return `cannot open the database at DATABASE_URL: ${reason}`;
  // PGlite is single-process: the directory's lock names who holds it (a server, usually).
  if (err instanceof DataDirLockedError)
    return `${reason} (to manage keys of a running embedded server, stop it first)`;
  return `cannot open the embedded database in ${resolve(dataDir)}: ${reason}`;
}
