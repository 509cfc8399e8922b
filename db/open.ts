import { connect, type Connection } from "./connect.js";
import { migrateToLatest } from "./migrate.js";

/**
 * Opens the database the way the server would (DATABASE_URL, else embedded PGlite under
 * SALVO_DATA_DIR) and brings its schema up to date. For command-line tools that run beside or
 * instead of a server.
 */
export async function openMigratedDatabase(env: NodeJS.ProcessEnv = process.env): Promise<Connection> {
  const databaseUrl = env.DATABASE_URL || undefined;
  const dataDir = env.SALVO_DATA_DIR || "./.salvo";
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
  // PGlite is single-process: a directory a running server holds open cannot be opened here too.
  return (
    `cannot open the embedded database in ${dataDir}: ${reason}\n` +
    `(PGlite's directory cannot be opened while a server uses it: stop the server first, or use DATABASE_URL)`
  );
}
