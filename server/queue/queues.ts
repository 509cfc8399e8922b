import { countQueueRuns } from "../../db/queue-counts.js";
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
 * queue exists once configured or once a run named it (db/queue-counts.ts reads the counts).
 */
export async function listQueues({ db }: Deps, env: AuthenticatedEnvironment) {
  const [rows, counts] = await Promise.all([
    db
      .selectFrom("queues")
      .select(["name", "concurrency_limit", "paused"])
      .where("environment_id", "=", env.id)
      .execute(),
    countQueueRuns(db, env.id),
  ]);
  const queues = new Map(
    rows.map((r) => [
      r.name,
      { name: r.name, concurrencyLimit: r.concurrency_limit, paused: r.paused, queued: 0, executing: 0 },
    ]),
  );
  for (const { queue: name, queued, executing } of counts) {
    const queue = queues.get(name) ?? { name, concurrencyLimit: null, paused: false, queued: 0, executing: 0 };
    queues.set(name, { ...queue, queued, executing });
  }
  return [...queues.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
