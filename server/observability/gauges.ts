import type { Kysely } from "kysely";
import { countQueueRuns } from "../../db/queue-counts.js";
import type { Database } from "../../db/schema.js";
import { dbPoolConnections, queueExecuting, queueLimit, queueQueued, redisUp } from "./metrics.js";

/** A Postgres pool's counts (pg.Pool's `totalCount`, `idleCount`, `waitingCount`). */
export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
}

/** What the gauges are read from: one server's database, pool and Redis clients. */
export interface GaugeSources {
  db: Kysely<Database>;
  queueRefreshMs: number;
  poolStats?: () => PoolStats;
  redis: { client: string; status(): Promise<"up" | "down" | "unused"> }[];
}

/** When each server's queue counts were last read (servers are told apart by their database handle). */
const queuesReadAt = new WeakMap<Kysely<Database>, number>();

/**
 * Brings the gauges up to date before a scrape. The pool and Redis are read every time (no I/O
 * but a PING). The per-queue counts are read at most every `queueRefreshMs` (db/queue-counts.ts:
 * partial indexes only, so their cost grows with the runs waiting or running, not with the history
 * kept), plus the `queues` rows.
 */
export async function refreshGauges(sources: GaugeSources): Promise<void> {
  const stats = sources.poolStats?.();
  if (stats) {
    dbPoolConnections.set({ state: "total" }, stats.total);
    dbPoolConnections.set({ state: "idle" }, stats.idle);
    dbPoolConnections.set({ state: "waiting" }, stats.waiting);
  }
  await Promise.all(
    sources.redis.map(async ({ client, status }) => {
      const s = await status();
      if (s === "unused") redisUp.remove({ client });
      else redisUp.set({ client }, s === "up" ? 1 : 0);
    }),
  );
  const readAt = queuesReadAt.get(sources.db);
  if (readAt === undefined || Date.now() - readAt >= sources.queueRefreshMs) {
    queuesReadAt.set(sources.db, Date.now());
    await readQueueGauges(sources.db);
  }
}

async function readQueueGauges(db: Kysely<Database>): Promise<void> {
  const [queues, counts] = await Promise.all([
    db.selectFrom("queues").select(["environment_id", "name", "concurrency_limit"]).execute(),
    countQueueRuns(db),
  ]);
  const byQueue = new Map(counts.map((c) => [`${c.environmentId}\0${c.queue}`, c]));
  // Every queue is listed, idle ones at 0; a queue deleted since is dropped.
  queueQueued.reset();
  queueExecuting.reset();
  queueLimit.reset();
  for (const q of queues) {
    const labels = { environment: q.environment_id, queue: q.name };
    const key = `${q.environment_id}\0${q.name}`;
    queueQueued.set(labels, byQueue.get(key)?.queued ?? 0);
    queueExecuting.set(labels, byQueue.get(key)?.executing ?? 0);
    if (q.concurrency_limit !== null) queueLimit.set(labels, q.concurrency_limit);
  }
}
