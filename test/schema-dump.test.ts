import { readFileSync } from "node:fs";
import { sql } from "kysely";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Connection, connect } from "../db/connect.js";
import { migrateToLatest } from "../db/migrate.js";
import { dumpSchema, SCHEMA_FILE } from "../db/schema-dump.js";

// db/schema.sql is what the migrations build: checked on a database created for this file, on the
// Postgres at DATABASE_URL when it is set (so both modes must give the same text), else in memory.
const databaseUrl = process.env.DATABASE_URL;
const scratchName = `salvo_schema_dump_${process.pid}_${Date.now()}`;
let connection: Connection;

async function onServer(statement: string) {
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  try {
    await admin.query(statement);
  } finally {
    await admin.end();
  }
}

beforeAll(async () => {
  if (databaseUrl) {
    await onServer(`create database ${scratchName}`);
    const url = new URL(databaseUrl);
    url.pathname = `/${scratchName}`;
    connection = await connect({ databaseUrl: url.href, poolSize: 1 });
  } else {
    connection = await connect({ dataDir: "memory://" });
  }
  await migrateToLatest(connection.db);
});
afterAll(async () => {
  await connection?.close();
  if (databaseUrl) await onServer(`drop database if exists ${scratchName} with (force)`);
});

describe("db/schema.sql", () => {
  it("is the schema of a freshly migrated database", async () => {
    expect(
      await dumpSchema(connection.db),
      "db/schema.sql differs from a freshly migrated database: run `npm run schema:dump` and commit db/schema.sql",
    ).toBe(readFileSync(SCHEMA_FILE, "utf8"));
  });

  it("shows a change to the schema, and refuses objects it cannot describe", async () => {
    await sql`alter table settings add column probe integer not null default 7`.execute(connection.db);
    expect(await dumpSchema(connection.db)).toContain("\n  probe integer not null default 7,\n");
    await sql`create view settings_names as select name from settings`.execute(connection.db);
    await expect(dumpSchema(connection.db)).rejects.toThrow(
      "the schema dump does not describe relation settings_names: extend db/schema-dump.ts",
    );
  });
});
