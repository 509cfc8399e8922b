import type { FastifyInstance } from "fastify";
import { pendingMigrations } from "../../db/migrate.js";
import type { RedisStatus } from "../adapters/redis-breaker.js";
import type { Deps } from "../deps.js";

/** Longest `/readyz` waits for the database to answer. */
const DATABASE_CHECK_MS = 1_000;

/**
 * `/healthz`: liveness, the process answers (whatever the database does: restarting the process
 * would not bring Postgres back). `/readyz`: readiness, 503 while this server cannot serve (its
 * database does not answer, a migration this build needs is not applied, or it is shutting
 * down), with what is wrong. Redis down is reported but still 200: Salvo serves every request
 * without it (the rate limit fails open, wake-ups fall back to polls), so taking every server out
 * of a load balancer because Redis is down would turn a degraded service into none.
 */
export function registerHealthRoutes(app: FastifyInstance, deps: Deps) {
  app.get("/healthz", async () => ({ status: "ok" }));

  app.get("/readyz", async (_req, reply) => {
    const [database, redis] = await Promise.all([databaseStatus(deps), redisStatus(deps)]);
    const closing = deps.closing.aborted;
    const migrations = database.up ? (database.pending.length === 0 ? "current" : "pending") : "unknown";
    const ready = database.up && migrations === "current" && !closing;
    return reply
      .status(ready ? 200 : 503)
      .header("cache-control", "no-store")
      .send({
        status: ready ? "ready" : closing ? "shutting down" : "unavailable",
        database: database.up ? "up" : "down",
        migrations,
        ...(database.pending.length > 0 ? { pendingMigrations: database.pending } : {}),
        redis,
      });
  });
}

/** Whether the database answers, and which of this build's migrations it lacks (one query). */
async function databaseStatus({ db }: Deps): Promise<{ up: boolean; pending: string[] }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const pending = await Promise.race([
      pendingMigrations(db),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("timeout")), DATABASE_CHECK_MS))),
    ]);
    return { up: true, pending };
  } catch {
    return { up: false, pending: [] };
  } finally {
    clearTimeout(timer);
  }
}

/** "down" when any Redis client of this server is down; "unused" without Redis. */
async function redisStatus({ bus, rateLimiter }: Deps): Promise<RedisStatus> {
  const statuses = await Promise.all([bus.redisStatus(), rateLimiter.redisStatus()]);
  if (statuses.includes("down")) return "down";
  return statuses.includes("up") ? "up" : "unused";
}
