import { openMigratedDatabase } from "./open.js";

/** `npm run migrate`: applies pending migrations to DATABASE_URL (else the embedded database). */
try {
  const connection = await openMigratedDatabase();
  await connection.close();
  console.log(`migrations applied (${connection.kind})`);
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  process.exitCode = 1;
}
