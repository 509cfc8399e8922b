import { writeFileSync } from "node:fs";
import { connect } from "./connect.js";
import { migrateToLatest } from "./migrate.js";
import { dumpSchema, SCHEMA_FILE } from "./schema-dump.js";

/**
 * `npm run schema:dump`: migrates a fresh in-memory database and writes its schema to db/schema.sql.
 * Always a fresh embedded database, whatever DATABASE_URL says: the dump is of the migrations, not of
 * some database's history (test/schema-dump.test.ts checks that Postgres gives the same text).
 */
async function main() {
  const connection = await connect({ dataDir: "memory://" });
  try {
    await migrateToLatest(connection.db);
    writeFileSync(SCHEMA_FILE, await dumpSchema(connection.db));
  } finally {
    await connection.close();
  }
  console.log(`wrote ${SCHEMA_FILE}`);
}

await main();
