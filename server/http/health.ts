import type { FastifyInstance } from "fastify";
import { sql } from "kysely";
import type { RedisStatus } from "../adapters/redis-breaker.js";
import type { Deps } from "../deps.js";

/** Longest `/readyz` waits for the database to answer. */
const DATABASE_CHECK_MS = 1_000;

/**
 * `/healthz`: liveness, the process answers (whatever the database does: restarting the process
 * would not bring Postgres back). `/readyz`: readiness, 503 while this server cannot serve (its
 * database does not answer, or it is shutting down), with what is wrong. Redis down is reported
 * but still 200: Salvo runs on without it (the rate limit fails open, wake-ups fall back to polls).
 * Migrations need no check: a server listens only once its schema is current.
 */
export function registerHealthRoutes(app: FastifyInstance, deps: Deps) {
  app.get("/healthz", async () => ({ status: "ok" }));

  app.get("/readyz", async (_req, reply) => {
    const [database, redis] = await Promise.all([databaseStatus(deps), redisStatus(deps)]);
    const closing = deps.closing.aborted;
    const ready = database === "up" && !closing;
    return reply
      .status(ready ? 200 : 503)
      .header("cache-control", "no-store")
      .send({ status: ready ? "ready" : closing ? "shutting down" : "unavailable", database, redis });
  });
}

async function databaseStatus({ db }: Deps): Promise<"up" | "down"> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      sql`select 1`.execute(db),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error("timeout")), DATABASE_CHECK_MS))),
    ]);
    return "up";
  } catch {
    return "down";
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
