import { type Kysely, sql } from "kysely";
import type { Database } from "./schema.js";

export interface QueueRunCounts {
  environmentId: string;
  queue: string;
  queued: number;
  executing: number;
}

/**
 * How many runs each queue has queued and executing now, for one environment or all. Each count
 * reads one partial index (`runs_queued`, `runs_executing`: only the QUEUED or EXECUTING runs),
 * never the finished runs, so its cost grows with the work waiting or running, not with the
 * history kept. Queues with neither are absent.
 */
export async function countQueueRuns(db: Kysely<Database>, environmentId?: string): Promise<QueueRunCounts[]> {
  // The status is written into the statement, not bound: the planner picks a partial index only
  // when it sees its predicate (a prepared statement's generic plan would not).
  const countOf = (status: "QUEUED" | "EXECUTING") => {
    let query = db
      .selectFrom("runs")
      .select(["environment_id", "queue", sql<number>`count(*)::int`.as("n")])
      .where(sql<boolean>`status = ${sql.lit(status)}`);
    if (environmentId !== undefined) query = query.where("environment_id", "=", environmentId);
    return query.groupBy(["environment_id", "queue"]).execute();
  };
  const [queued, executing] = await Promise.all([countOf("QUEUED"), countOf("EXECUTING")]);
  const counts = new Map<string, QueueRunCounts>();
  const entry = (row: { environment_id: string; queue: string }) => {
    const key = `${row.environment_id}\0${row.queue}`;
    let found = counts.get(key);
    if (!found) {
      found = { environmentId: row.environment_id, queue: row.queue, queued: 0, executing: 0 };
      counts.set(key, found);
    }
    return found;
  };
  for (const row of queued) entry(row).queued = row.n;
  for (const row of executing) entry(row).executing = row.n;
  return [...counts.values()];
}
