import { DataDirLockedError } from "../db/data-dir-lock.js";
import { ConfigError, loadConfig } from "./config.js";
import { dashboardDir } from "./http/dashboard.js";
import { startSalvo } from "./start.js";
import { StartError } from "./start-errors.js";

async function main() {
  const config = loadConfig();
  const salvo = await startSalvo(config);
  const { log } = salvo;
  const where = config.databaseUrl ? "Postgres at DATABASE_URL" : `embedded PGlite in ${config.dataDir}`;
  log.notice(
    { url: salvo.url },
    `salvo listening on ${salvo.url} (${where}, ${config.redisUrl ? "Redis at REDIS_URL" : "in-process adapters"})`,
  );
  if (dashboardDir()) log.notice(`dashboard at ${salvo.url}/dashboard/ (sign in with an environment's secret key)`);
  else log.warn("the dashboard is not built (dist/dashboard is missing): run `npm run build`");
  if (salvo.bootstrapped && !config.bootstrapKey) {
    // Logged once: only a hash of the key is stored. The one line of the log that holds a secret,
    // on purpose (set SALVO_BOOTSTRAP_KEY to choose the first key instead).
    log.notice(
      { environmentId: salvo.bootstrapped.environmentId },
      `Created a ${salvo.bootstrapped.type} environment ${salvo.bootstrapped.environmentId}. ` +
        `Its secret key (shown only now): ${salvo.bootstrapped.secretKey}`,
    );
  }
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    log.notice({ signal }, `${signal}: shutting down (grace period ${config.shutdownGraceMs} ms)`);
    // Past the grace period close() cuts what is left; a database that does not even answer the
    // rollbacks then must not keep the process alive for ever.
    setTimeout(() => {
      log.error("shutdown did not finish in time: exiting");
      process.exit(1);
    }, config.shutdownGraceMs + 10_000).unref();
    await salvo.close();
    log.notice("shut down");
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}

// A start that fails is told in one plain line on stderr, not as a log line: the failure may be
// the configuration that chooses the log's level itself, and nothing is running to log about.
main().catch((err) => {
  const reason =
    err instanceof ConfigError
      ? err.message
      : err instanceof DataDirLockedError || err instanceof StartError
        ? `salvo failed to start: ${err.message}`
        : `salvo failed to start: ${(err as Error)?.stack ?? err}`;
  process.stderr.write(`${reason}\n`);
  process.exit(1);
});
