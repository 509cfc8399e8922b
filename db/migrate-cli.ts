import { openMigratedDatabase } from "./open.js";

/**
 * `npm run migrate`: applies pending migrations to DATABASE_URL, else to the embedded database
 * (created if SALVO_DATA_DIR holds none).
 */
try {
  const connection = await openMigratedDatabase(process.env, { create: true });
  await connection.close();
  console.log(`migrations applied (${connection.kind})`);
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
}
