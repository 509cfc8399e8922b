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

export async function listQueues({ db }: Deps, env: AuthenticatedEnvironment) {
  const rows = await db
    .selectFrom("queues")
    .select(["name", "concurrency_limit", "paused"])
    .where("environment_id", "=", env.id)
    .orderBy("name")
    .execute();
  return rows.map((r) => ({ name: r.name, concurrencyLimit: r.concurrency_limit, paused: r.paused }));
}
