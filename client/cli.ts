/**
 * `salvo`: the command line. `env …` and `key …` open the database directly (no server needed);
 * `batch …`, `runs …` and `worker` talk to a running server (SALVO_URL, SALVO_API_KEY).
 * Exit codes: 0 ok, 1 failure, 2 bad usage or no server to talk to. Errors are one line on stderr.
 * Each command's module loads only when it runs, so help and usage errors answer at once.
 */
import { readFileSync } from "node:fs";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import type { EnvironmentType } from "../db/schema.js";
import { RUN_STATUSES } from "../shared/schemas.js";
import { CommandError, EXIT } from "./commands/settings.js";
import { oneLine } from "./errors.js";

const ENVIRONMENT_TYPES: readonly EnvironmentType[] = ["dev", "staging", "prod", "preview"];
const out = (line: string) => console.log(line);

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("must be a positive whole number");
  return n;
};

const version = (
  JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }
).version;

export function buildProgram(setExitCode: (code: number) => void): Command {
  const program = new Command("salvo")
    .description("Salvo: environments, keys, batches, runs and workers")
    .version(version)
    .exitOverride()
    .showSuggestionAfterError()
    .addHelpText(
      "after",
      `
Database (env, key): DATABASE_URL, else the embedded database in SALVO_DATA_DIR (default ./.salvo),
which must already exist (the server's first start, or \`npm run migrate\`, creates it). An embedded
database is locked by the process using it: stop the server first. SALVO_SECRET must match the
server's when it sets one.
Server (batch, runs, worker): SALVO_URL (default http://127.0.0.1:3030), SALVO_API_KEY.`,
    );
  const done = (code: number) => setExitCode(code);

  const env = program.command("env").description("environments (opens the database)");
  env
    .command("create")
    .description("create an environment; prints its secret key (shown only once)")
    .addOption(new Option("--type <type>", "environment type").choices(ENVIRONMENT_TYPES).makeOptionMandatory())
    .option("--project <name>", "project name")
    .action(async (o: { type: EnvironmentType; project?: string }) =>
      done(await (await import("./commands/keys.js")).envCreate(o, out)),
    );
  env
    .command("list")
    .description("environments and how many active keys each has")
    .action(async () => done(await (await import("./commands/keys.js")).envList(out)));

  const key = program.command("key").description("secret keys (opens the database)");
  key
    .command("create")
    .description("add a secret key to an environment; prints it (shown only once)")
    .requiredOption("--env <envId>", "the environment (see `salvo env list`)")
    .action(async (o: { env: string }) => done(await (await import("./commands/keys.js")).keyCreate(o.env, out)));
  key
    .command("list")
    .description("every key: id, environment, prefix, active or revoked")
    .action(async () => done(await (await import("./commands/keys.js")).keyList(out)));
  key
    .command("revoke")
    .description("revoke a key: requests with it get 401 from then on")
    .argument("<keyId>", "a key id (see `salvo key list`)")
    .action(async (keyId: string) => done(await (await import("./commands/keys.js")).keyRevoke(keyId, out)));

  const batch = program.command("batch").description("batches (talks to the server)");
  batch
    .command("watch")
    .description("live progress of a batch until it is final: exit 0 all succeeded, 1 failures or aborted")
    .argument("<batchId>")
    .action(async (batchId: string) => done(await (await import("./commands/batch-watch.js")).watch(batchId)));
  batch
    .command("trigger")
    .description("one run of <task> per line of an NDJSON file, sent through the two-phase API")
    .argument("<task>", "task id")
    .requiredOption("--file <path>", "NDJSON items: a payload per line, or {payload, options}")
    .option("--chunk <n>", "items per request", positiveInt, 500)
    .action(async (task: string, o: { file: string; chunk: number }) =>
      done(await (await import("./commands/batch-trigger.js")).trigger(task, o)),
    );

  const runs = program.command("runs").description("runs (talks to the server)");
  runs
    .command("list")
    .description("runs, newest first")
    .option("--batch <batchId>", "runs of one batch")
    .addOption(new Option("--status <status>", "runs in one status").choices(RUN_STATUSES))
    .option("--task <task>", "runs of one task")
    .option("--tag <tag>", "runs with this tag")
    .option("--limit <n>", "runs per page (at most 100)", positiveInt, 25)
    .option("--cursor <cursor>", "the next page, as the previous one said")
    .action(async (o) => done(await (await import("./commands/runs.js")).list(o, out)));
  runs
    .command("cancel")
    .description("cancel a run that has not finished")
    .argument("<runId>")
    .action(async (runId: string) => done(await (await import("./commands/runs.js")).cancel(runId, out)));
  runs
    .command("replay")
    .description("run a run again: a new run of its task with its payload; prints the new run's id")
    .argument("<runId>")
    .action(async (runId: string) => done(await (await import("./commands/runs.js")).replay(runId, out)));

  program
    .command("worker")
    .description("run a worker for the tasks a module exports (resolved from the current directory)")
    .argument("<module>", 'e.g. tasks.ts, exporting `tasks = { "task-id": async (payload, ctx) => … }`')
    .option(
      "--concurrency <n>",
      "runs executed at once",
      positiveInt,
      Number(process.env.SALVO_WORKER_CONCURRENCY ?? 10),
    )
    .action(async (module: string, o: { concurrency: number }) =>
      done(await (await import("./commands/worker.js")).runWorker(module, o)),
    );

  // Every command's errors: one line, with where to read its usage.
  const hintAll = (command: Command, name: string) => {
    command.configureOutput({
      outputError: (text, write) => write(`salvo: ${text.replace(/^error: /, "").trim()} (see \`${name} --help\`)\n`),
    });
    for (const sub of command.commands) hintAll(sub, `${name} ${sub.name()}`);
  };
  hintAll(program, "salvo");
  return program;
}

export async function main(argv: string[]): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync(argv, { from: "user" });
    return code;
  } catch (err) {
    // Help and --version exit 0; every usage error exits 2 (commander said what it was already).
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (err instanceof CommandError) {
      console.error(`salvo: ${err.message}`);
      return err.exitCode;
    }
    console.error(`salvo: ${oneLine(err)}`);
    return EXIT.failed;
  }
}
