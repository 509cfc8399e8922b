import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { ensureDatabase, freshDatabase } from "../bench/databases.js";

// `npm run bench` on a fresh machine: the bench's own database (salvo_bench by default) is made
// when missing, and each system's fresh database is made from the server's maintenance database,
// so nothing needs to exist beforehand but Postgres itself.
const base = process.env.DATABASE_URL;
const name = `salvo_benchtest_${randomBytes(4).toString("hex")}`;
const admin = async <T>(fn: (client: pg.Client) => Promise<T>) => {
  const url = new URL(base!);
  url.pathname = "/postgres";
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
};
const exists = (db: string) =>
  admin(async (c) => (await c.query("select 1 from pg_database where datname = $1", [db])).rowCount === 1);

afterAll(async () => {
  if (!base) return;
  await admin(async (c) => {
    for (const db of [name, `${name}_salvo`]) await c.query(`drop database if exists ${db} with (force)`);
  });
});

describe.skipIf(!base)("bench databases", () => {
  it("creates the bench's database when it is missing, and fresh ones next to it", async () => {
    const url = new URL(base!);
    url.pathname = `/${name}`;
    expect(await exists(name)).toBe(false);
    await ensureDatabase(url.toString());
    await ensureDatabase(url.toString());
    expect(await exists(name)).toBe(true);

    const fresh = await freshDatabase(url.toString(), "salvo");
    expect(new URL(fresh).pathname).toBe(`/${name}_salvo`);
    const client = new pg.Client({ connectionString: fresh });
    await client.connect();
    const { rows } = await client.query<{ db: string }>("select current_database() as db");
    await client.end();
    expect(rows[0]!.db).toBe(`${name}_salvo`);
  });
});
