import { sql } from "kysely";
import { afterAll, describe, expect, it } from "vitest";
import { type Connection, connect } from "../db/connect.js";
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
      const { rows } = await sql<{
        name: string;
        statement: string;
      }>`select name, statement from pg_prepared_statements`.execute(db);
      return rows;
    });
    expect(prepared).toHaveLength(1);
    expect(prepared[0]!.name).toMatch(/^salvo_[0-9a-f]{40}$/);
    expect(prepared[0]!.statement).toContain("select $1::int as n");
  });
});

describe.skipIf(!databaseUrl)("the worker's prepared statements (needs DATABASE_URL)", () => {
  it("stay the same few names however many tasks a dequeue names and however many outcomes it carries", async () => {
    const { startTestSalvo } = await import("./support/salvo.js");
    const { createSalvoClient } = await import("../client/index.js");
    const { preparedNames } = await import("../db/prepared.js");
    const salvo = await startTestSalvo();
    try {
      const client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
      const tasks = Array.from({ length: 30 }, (_, i) => `prep-${i}`);
      await client.worker.register.mutate({ workerId: "w-prep", tasks });
      const round = async (taskCount: number, outcomes: number) => {
        const names = tasks.slice(0, taskCount);
        if (outcomes > 0) {
          await client.batch.trigger.mutate({
            items: Array.from({ length: outcomes * 2 }, (_, i) => ({ task: names[i % names.length]!, payload: i })),
          });
        }
        const runs = await client.worker.dequeue.mutate({ workerId: "w-prep", tasks: names, max: outcomes * 2 || 1 });
        const half = Math.floor(runs.length / 2);
        await client.worker.dequeue.mutate({
          workerId: "w-prep",
          tasks: names,
          max: 1,
          completed: runs.slice(0, half).map((r) => ({ runId: r.id, claimId: r.claimId, output: r.payload })),
          failed: runs
            .slice(half)
            .map((r) => ({ runId: r.id, claimId: r.claimId, error: { name: "Error", message: "x" }, retry: false })),
        });
      };
      // Every shape once (with and without outcomes), then many more varied calls: no new name.
      await round(1, 0);
      await round(2, 1);
      const settled = preparedNames.size;
      expect(settled).toBeGreaterThan(0);
      for (let i = 0; i < 40; i++) await round(1 + ((i * 7) % 30), i % 6);
      expect(preparedNames.size).toBe(settled);
      // And the server's connections hold no more than those (each prepares each name once at most).
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_prepared_statements`.execute(
        salvo.deps.db,
      );
      expect(rows[0]!.n).toBeLessThanOrEqual(settled);
    } finally {
      await salvo.close();
    }
  });
});
