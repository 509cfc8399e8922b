import { sql } from "kysely";
import type { AuthenticatedEnvironment } from "../auth/authenticate.js";
import type { Deps } from "../deps.js";
import { notifyEvents } from "../events/notify.js";

/** Sets a queue's concurrency limit (null: unlimited) or pauses it; creates the queue if needed. */
export async function updateQueue(
  { db, bus }: Deps,
  env: AuthenticatedEnvironment,
  input: { name: string; concurrencyLimit?: number | null; paused?: boolean },
) {
  const row = await db
    .insertInto("queues")
    .values({
      environment_id: env.id,
      name: input.name,
      concurrency_limit: input.concurrencyLimit ?? null,
      paused: input.paused ?? false,
    })
    .onConflict((oc) =>
      oc.columns(["environment_id", "name"]).doUpdateSet({
        ...(input.concurrencyLimit !== undefined ? { concurrency_limit: input.concurrencyLimit } : {}),
        ...(input.paused !== undefined ? { paused: input.paused } : {}),
      }),
    )
    .returning(["name", "concurrency_limit", "paused"])
    .executeTakeFirstOrThrow();
  // A raised limit or a resumed queue may have runs ready now.
  notifyEvents(bus, env.id);
  return { name: row.name, concurrencyLimit: row.concurrency_limit, paused: row.paused };
}

/**
 * The environment's queues: limit, paused, and how many runs are queued and executing now. A
 * queue exists once configured or once a run named it; the counts read the partial indexes of
 * queued and executing runs (one index-only range per status), never the finished runs.
 */
export async function listQueues({ db }: Deps, env: AuthenticatedEnvironment) {
  // The status is written into the statement, not bound: the planner picks a partial index only
  // when it sees its predicate (a prepared statement's generic plan would not).
  const countOf = (status: "QUEUED" | "EXECUTING") =>
    db
      .selectFrom("runs")
      .select(["queue", sql<number>`count(*)::int`.as("n")])
      .where("environment_id", "=", env.id)
      .where(sql<boolean>`status = ${sql.lit(status)}`)
      .groupBy("queue")
      .execute();
  const [rows, queued, executing] = await Promise.all([
    db
      .selectFrom("queues")
      .select(["name", "concurrency_limit", "paused"])
      .where("environment_id", "=", env.id)
      .execute(),
    countOf("QUEUED"),
    countOf("EXECUTING"),
  ]);
  const queues = new Map(
    rows.map((r) => [
      r.name,
      { name: r.name, concurrencyLimit: r.concurrency_limit, paused: r.paused, queued: 0, executing: 0 },
    ]),
  );
  const entry = (name: string) => {
    let queue = queues.get(name);
    if (!queue) {
      queue = { name, concurrencyLimit: null, paused: false, queued: 0, executing: 0 };
      queues.set(name, queue);
    }
    return queue;
  };
  for (const row of queued) entry(row.queue).queued = row.n;
  for (const row of executing) entry(row.queue).executing = row.n;
  return [...queues.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
