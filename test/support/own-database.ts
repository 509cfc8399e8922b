import { randomBytes } from "node:crypto";
import pg from "pg";

/**
 * A database of the caller's own, for a server whose background tasks act across every
 * environment of its database (retention deletes, sweeps expire leases and TTLs): a scratch
 * database on the Postgres at DATABASE_URL, since other test files' runs there are not its to
 * touch or to count; without DATABASE_URL each server has its own in-memory PGlite already.
 * `env` goes into the server's settings; `drop` removes the database afterwards.
 */
export async function ownDatabase(): Promise<{ env: Record<string, string>; drop(): Promise<void> }> {
  const databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) return { env: {}, drop: async () => {} };
  const name = `salvo_own_test_${randomBytes(4).toString("hex")}`;
  const admin = async (statement: string) => {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  await admin(`create database ${name}`);
  const url = new URL(databaseUrl);
  url.pathname = `/${name}`;
  return { env: { DATABASE_URL: url.href }, drop: () => admin(`drop database if exists ${name} with (force)`) };
}
