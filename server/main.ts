import { DataDirLockedError } from "../db/data-dir-lock.js";
import { ConfigError, loadConfig } from "./config.js";
import { startSalvo } from "./start.js";
import { StartError } from "./start-errors.js";

async function main() {
  const config = loadConfig();
  const salvo = await startSalvo(config);
  const where = config.databaseUrl ? "Postgres at DATABASE_URL" : `embedded PGlite in ${config.dataDir}`;
  console.log(
    `salvo listening on ${salvo.url} (${where}, ${config.redisUrl ? "Redis at REDIS_URL" : "in-process adapters"})`,
  );
  if (salvo.bootstrapped && !config.bootstrapKey) {
    // Printed once: only a hash of the key is stored.
    console.log(
      `\nCreated a ${salvo.bootstrapped.type} environment ${salvo.bootstrapped.environmentId}.\n` +
        `Its secret key (shown only now):\n\n  ${salvo.bootstrapped.secretKey}\n`,
    );
  }
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    console.log(`${signal}: shutting down (grace period ${config.shutdownGraceMs} ms)`);
    // Past the grace period close() cuts what is left; a database that does not even answer the
    // rollbacks then must not keep the process alive for ever.
    setTimeout(() => {
      console.error("shutdown did not finish in time: exiting");
      process.exit(1);
    }, config.shutdownGraceMs + 10_000).unref();
    await salvo.close();
    process.exit(0);
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}

main().catch((err) => {
  if (err instanceof ConfigError) console.error(err.message);
  else if (err instanceof DataDirLockedError || err instanceof StartError)
    console.error(`salvo failed to start: ${err.message}`);
  else console.error("salvo failed to start:", err);
  process.exit(1);
});
