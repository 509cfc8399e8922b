import { connect, type Connection } from "../db/connect.js";
import { migrateToLatest } from "../db/migrate.js";
import { createBus } from "./adapters/bus.js";
import { bootstrapEnvironment, type CreatedEnvironment } from "./auth/environments.js";
import { openVault } from "./auth/vault.js";
import type { Config } from "./config.js";
import type { Deps } from "./deps.js";
import { startBackgroundTasks } from "./background.js";
import { BACKGROUND_TASKS } from "./background-tasks.js";
import { buildApp } from "./http/app.js";
import { createRateLimiter } from "./limits/rate-limiter.js";
import { WorkerPresence } from "./queue/presence.js";

export interface RunningSalvo {
  url: string;
  deps: Deps;
  /** Set when this start created an environment (first start, or a new bootstrap key). */
  bootstrapped?: CreatedEnvironment;
  close(): Promise<void>;
}

/**
 * Composition root: connect, migrate, provision, then serve. Nothing listens before the schema
 * is current, so `/healthz` answering means the service is ready.
 */
export async function startSalvo(config: Config, options: { connection?: Connection } = {}): Promise<RunningSalvo> {
  const connection =
    options.connection ?? (await connect({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }));
  await migrateToLatest(connection.db);
  const vault = await openVault(connection.db, config.secret);
  const bootstrapped = await bootstrapEnvironment({ db: connection.db, vault }, config.bootstrapKey);
  const deps: Deps = {
    db: connection.db,
    config,
    bus: createBus(config.redisUrl),
    vault,
    rateLimiter: createRateLimiter(config.redisUrl),
    presence: new WorkerPresence(),
  };
  const app = buildApp(deps);
  const stopBackground = startBackgroundTasks(deps, BACKGROUND_TASKS);
  const address = await app.listen({ port: config.port, host: config.host });
  const url = address.replace("[::1]", "127.0.0.1");
  return {
    url,
    deps,
    bootstrapped,
    async close() {
      deps.presence.close();
      await stopBackground();
      await app.close();
      await deps.bus.close();
      await deps.rateLimiter.close();
      if (!options.connection) await connection.close();
    },
  };
}
