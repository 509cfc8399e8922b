import { type Connection, connect } from "../db/connect.js";
import { DataDirLockedError } from "../db/data-dir-lock.js";
import { migrateToLatest } from "../db/migrate.js";
import { createBus } from "./adapters/bus.js";
import { createRateLimiter } from "./adapters/rate-limiter.js";
import { bootstrapEnvironment, type CreatedEnvironment } from "./auth/environments.js";
import { KeyCache } from "./auth/key-cache.js";
import { openVault } from "./auth/vault.js";
import { startBackgroundTasks } from "./background.js";
import { BACKGROUND_TASKS } from "./background-tasks.js";
import type { Config } from "./config.js";
import type { Deps } from "./deps.js";
import { buildApp } from "./http/app.js";
import { createLogger, type Log, type LogStream } from "./observability/log.js";
import { SqlSpans, startTracing } from "./observability/tracing.js";
import { WorkerPresence } from "./queue/presence.js";
import { databaseStartError, listenStartError } from "./start-errors.js";

export interface RunningSalvo {
  url: string;
  deps: Deps;
  /** The process's logger (also `deps.log`): start, the first key and shutdown are logged through it. */
  log: Log;
  /**
   * Set when this start created an environment (first start, or a new bootstrap key). Created only
   * once the server listens: a start that fails earlier (the port in use) leaves the database
   * without one, so the next start creates it and prints its key.
   */
  bootstrapped?: CreatedEnvironment;
  /** Shuts down gracefully (see `close` below); resolves once everything is closed. */
  close(): Promise<void>;
}

/**
 * Composition root: connect, migrate, serve, then provision the first environment. Nothing
 * listens before the schema is current. A database that cannot be used, or an address in use,
 * fails with a StartError naming the setting.
 */
export async function startSalvo(
  config: Config,
  options: { connection?: Connection; logStream?: LogStream } = {},
): Promise<RunningSalvo> {
  const log = createLogger(config.logLevel, options.logStream);
  const connection = options.connection ?? (await connectAndMigrate(config, log));
  if (options.connection) await migrateToLatest(connection.db);
  const vault = await openVault(connection.db, config.secret);
  const closing = new AbortController();
  const warn = (message: string) => log.warn(message);
  const tracing = startTracing(config.tracing);
  const deps: Deps = {
    // With tracing on, every statement is timed as a span of the request it serves.
    db: tracing ? connection.db.withPlugin(new SqlSpans(tracing.tracer)) : connection.db,
    config,
    log,
    ...(tracing ? { tracer: tracing.tracer } : {}),
    bus: createBus(config.redisUrl, warn),
    vault,
    keyCache: new KeyCache(config.tokens.keyCacheMs),
    rateLimiter: createRateLimiter(config.redisUrl, warn),
    closing: closing.signal,
    presence: new WorkerPresence((fields, message) => log.warn(fields, message)),
  };
  const stopKeyCache = deps.keyCache.listen(deps.bus);
  const app = buildApp(deps, { poolStats: connection.poolStats });
  let address: string;
  try {
    address = await app.listen({ port: config.port, host: config.host });
  } catch (err) {
    await stopKeyCache();
    await Promise.all([app.close(), deps.bus.close(), deps.rateLimiter.close(), tracing?.shutdown()]);
    if (!options.connection) await connection.close();
    throw listenStartError(err, config.host, config.port);
  }
  const stopBackground = startBackgroundTasks(deps, BACKGROUND_TASKS);
  const url = address.replace("[::1]", "127.0.0.1");
  if (config.redisUrl && (await deps.bus.redisStatus()) === "down")
    log.warn(
      "Redis at REDIS_URL does not answer: serving without it until it does (rate limits fail open, live status polls)",
    );

  /**
   * A graceful shutdown: stop accepting connections; end what waits on its own (subscriptions end
   * with a resume hint, worker dequeues answer empty); let requests and background work in flight
   * finish within the grace period. Past it, the database gate shuts (no statement starts, nothing
   * commits: a cut request's transaction rolls back) and the remaining connections are cut. Only
   * then are Redis and the pool closed, so no request ever runs on a closed pool.
   */
  let closed: Promise<void> | undefined;
  const close = async () => {
    // Before anything ends: a presence stream the shutdown ends is not its worker going away.
    deps.presence.close();
    closing.abort();
    const drained = Promise.all([app.close(), stopBackground()]);
    if (!(await settlesWithin(drained, config.shutdownGraceMs))) {
      log.warn(
        `shutdown: requests still running after the ${config.shutdownGraceMs} ms grace period are cut and roll back`,
      );
      connection.gate.shut();
      app.server.closeAllConnections();
      await drained;
    }
    await stopKeyCache();
    await deps.bus.close();
    await deps.rateLimiter.close();
    // The last spans are exported before the process may exit; an unreachable collector is not waited on twice.
    await tracing?.shutdown().catch(() => {});
    if (!options.connection) await connection.close();
  };
  const closeOnce = () => (closed ??= close());
  let bootstrapped: CreatedEnvironment | undefined;
  try {
    bootstrapped = await bootstrapEnvironment({ db: connection.db, vault }, config.bootstrapKey);
  } catch (err) {
    await closeOnce();
    throw err;
  }
  return { url, deps, log, bootstrapped, close: closeOnce };
}

/** The configured database with its schema current; a failure names DATABASE_URL or SALVO_DATA_DIR. */
async function connectAndMigrate(config: Config, log: Log): Promise<Connection> {
  const open = (statementTimeoutMs?: number) =>
    connect({
      databaseUrl: config.databaseUrl,
      dataDir: config.dataDir,
      connectTimeoutMs: config.dbConnectTimeoutMs,
      statementTimeoutMs,
      onConnectionLost: (message) => log.error(message),
    }).catch((err: unknown) => {
      // A locked embedded directory says who holds it already.
      if (err instanceof DataDirLockedError) throw err;
      throw databaseStartError(err, config.databaseUrl, config.dataDir);
    });
  const migrate = async (connection: Connection) => {
    try {
      await migrateToLatest(connection.db);
    } catch (err) {
      await connection.close().catch(() => {});
      throw databaseStartError(err, config.databaseUrl, config.dataDir);
    }
  };
  // Embedded PGlite runs in this process: it cannot freeze apart from it, and has no timeouts.
  if (!config.databaseUrl) {
    const connection = await open();
    await migrate(connection);
    return connection;
  }
  // A migration may rightly run longer than any request statement (an index on a large table):
  // it runs on a connection of its own without the statement timeout the server's pool has.
  const migrating = await open();
  await migrate(migrating);
  await migrating.close();
  return open(config.dbStatementTimeoutMs);
}

/** Whether `promise` settles within `ms`. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([
      promise.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
