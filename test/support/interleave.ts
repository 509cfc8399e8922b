import { type Kysely, sql } from "kysely";
import pg from "pg";
import type { Database } from "../../db/schema.js";

/**
 * Tools to force one interleaving of concurrent transactions on a real Postgres: a second
 * connection that holds row locks, a way to see who is blocked by whom, and gates for the
 * server's test hooks (server/test-hooks.ts).
 */

/** A connection of its own that takes locks in an open transaction until `release`. */
export async function lockHolder(databaseUrl: string) {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const { rows } = await client.query<{ pid: number }>("select pg_backend_pid() as pid");
  return {
    pid: rows[0]!.pid,
    async hold(text: string, values: unknown[] = []) {
      await client.query("begin");
      const { rowCount } = await client.query(text, values);
      if (!rowCount) throw new Error(`lockHolder: "${text}" locked nothing`);
    },
    release: () => client.query("commit"),
    close: () => client.end(),
  };
}

/** How many backends wait, directly or behind another waiter, for a lock that the backend `pid` holds. */
export async function blockedBy(db: Kysely<Database>, pid: number): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    with recursive chain(pid) as (
      select ${pid}::int
      union
      select a.pid from pg_stat_activity a join chain on chain.pid = any(pg_blocking_pids(a.pid))
    )
    select (count(*) - 1)::int as n from chain`.execute(db);
  return rows[0]!.n;
}

export async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A promise whose settling can be checked without awaiting it (and whose rejection is not unhandled). */
export function track<T>(promise: Promise<T>) {
  let result: PromiseSettledResult<T> | undefined;
  const done = promise.then(
    (value) => {
      result = { status: "fulfilled", value };
    },
    (reason: unknown) => {
      result = { status: "rejected", reason };
    },
  );
  return {
    get settled() {
      return result !== undefined;
    },
    /** The value, or the rejection thrown again. */
    async value(): Promise<T> {
      await done;
      if (result!.status === "rejected") throw result!.reason;
      return result!.value;
    },
  };
}

/** Holds every transaction that reaches a hook until `open()`; `arrived(n)` waits for n of them. */
export function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  const pids: number[] = [];
  return {
    /** The hook body: remembers the waiting transaction's backend and waits for the gate. */
    async hold(trx: Kysely<Database>) {
      const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
      pids.push(rows[0]!.pid);
      await opened;
    },
    pids,
    arrived: (n: number) => until(() => pids.length >= n, `${n} transactions reached the hook`),
    open,
  };
}
