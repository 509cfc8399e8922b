import { sql } from "kysely";
import { afterAll, describe, expect, it } from "vitest";
import { connect, type Connection } from "../db/connect.js";
import { PREPARED } from "../db/prepared.js";

const databaseUrl = process.env.DATABASE_URL;
let connection: Connection | undefined;
afterAll(() => connection?.close());

describe.skipIf(!databaseUrl)("statements marked PREPARED (needs DATABASE_URL)", () => {
  it("are prepared once per connection and reused; unmarked ones are not prepared", async () => {
    connection = await connect({ databaseUrl, poolSize: 1 });
    const prepared = await connection.db.connection().execute(async (db) => {
      for (let i = 0; i < 3; i++) {
        const { rows } = await sql<{ n: number }>`${sql.raw(PREPARED)}select ${i}::int as n`.execute(db);
        expect(rows).toEqual([{ n: i }]);
      }
      await sql`select 1 as unmarked`.execute(db);
      const { rows } = await sql<{ name: string; statement: string }>`select name, statement from pg_prepared_statements`.execute(db);
      return rows;
    });
    expect(prepared).toHaveLength(1);
    expect(prepared[0]!.name).toMatch(/^salvo_[0-9a-f]{40}$/);
    expect(prepared[0]!.statement).toContain("select $1::int as n");
  });
});
