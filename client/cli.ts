import { parseArgs } from "node:util";
import type { Connection } from "../db/connect.js";
import type { EnvironmentType } from "../db/schema.js";

// The database and auth modules (Kysely, pg, PGlite) load only once the arguments are valid, so
// usage errors and --help answer at once.
const loadDeps = async () => {
  const [{ openMigratedDatabase }, environments, { hashSecretKey }, { openVault }] = await Promise.all([
    import("../db/open.js"),
    import("../server/auth/environments.js"),
    import("../server/auth/keys.js"),
    import("../server/auth/vault.js"),
  ]);
  return { openMigratedDatabase, ...environments, hashSecretKey, openVault };
};

/**
 * `salvo` (also `npm run salvo -- …`): manages environments and API keys by opening the database
 * directly, so it needs no running server and no key of its own. Exit codes: 0 ok, 1 failure,
 * 2 bad usage.
 */
const USAGE = `usage: salvo <command>

  env create --type dev|staging|prod|preview [--project <name>]
                             create an environment; prints its secret key (shown only once)
  env list                   environments and their keys (prefixes only)
  key create --env <envId>   add a secret key to an environment; prints it (shown only once)
  key list                   every key: id, environment, prefix, revoked or not
  key revoke <keyId>         revoke a key: requests with it get 401 from then on
  batch watch <batchId>      live progress bar of a batch until it is final (SALVO_URL, SALVO_API_KEY)
  batch trigger <task> --file items.ndjson
                             stream a file of items through the two-phase API with a progress bar

Database: DATABASE_URL, else embedded PGlite in SALVO_DATA_DIR (default ./.salvo), which
must already hold a database (\`npm run migrate\` creates one).
PGlite's directory cannot be opened while a server uses it: stop the server first.
SALVO_SECRET must match the server's when it sets one (keys are encrypted with it).`;

/** The CLI speaks the names people use; the database stores the key prefixes' short forms. */
const TYPES: Record<string, EnvironmentType> = { dev: "dev", staging: "staging", prod: "prod", preview: "preview" };

class UsageError extends Error {}

type Deps = Awaited<ReturnType<typeof loadDeps>>;
type Db = Connection & { lib: Deps };

const parseCommandLine = (args: string[]) =>
  parseArgs({
    args,
    allowPositionals: true,
    options: {
      type: { type: "string" },
      project: { type: "string" },
      env: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });

async function main(argv: string[], out = console.log, err = console.error): Promise<number> {
  // `batch …` commands talk to a running server over HTTP (SALVO_URL, SALVO_API_KEY), not to the database.
  if (argv[0] === "batch" && (argv[1] === "watch" || argv[1] === "trigger")) {
    const command =
      argv[1] === "watch" ? await import("./commands/batch-watch.js") : await import("./commands/batch-trigger.js");
    return command.run(argv.slice(2));
  }
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(argv);
  } catch (e) {
    err(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    out(USAGE);
    return 0;
  }
  const [noun, verb, ...rest] = positionals;
  let command: (conn: Db) => Promise<void>;
  try {
    command = pickCommand(noun, verb, rest, values, out);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`${e.message}\n\n${USAGE}`);
    return 2;
  }

  const lib = await loadDeps();
  let connection: Db;
  try {
    connection = { ...(await lib.openMigratedDatabase()), lib };
  } catch (e) {
    err(`salvo: ${(e as Error).message}`);
    return 1;
  }
  try {
    await command(connection);
    return 0;
  } catch (e) {
    err(`salvo: ${(e as Error).message}`);
    return 1;
  } finally {
    await connection.close();
  }
}

/** Validates the arguments before anything touches the database, so bad usage never opens it. */
function pickCommand(
  noun: string | undefined,
  verb: string | undefined,
  rest: string[],
  values: { type?: string; project?: string; env?: string },
  out: (line: string) => void,
): (conn: Db) => Promise<void> {
  const command = `${noun ?? ""} ${verb ?? ""}`.trim();
  const noExtra = () => {
    if (rest.length > 0) throw new UsageError(`unexpected argument: ${rest.join(" ")}`);
  };
  switch (command) {
    case "env create": {
      noExtra();
      const type = values.type !== undefined ? TYPES[values.type] : undefined;
      if (!type) throw new UsageError("env create needs --type dev|staging|prod|preview");
      if (values.project === "") throw new UsageError("--project must not be empty");
      return async ({ db, lib }) => {
        const env = await lib.createEnvironment(
          { db, vault: await lib.openVault(db, process.env.SALVO_SECRET) },
          { type, project: values.project },
        );
        out(`environment ${env.environmentId} (${env.type}, project ${env.project})`);
        out(`secret key: ${env.secretKey}`);
        out("Store this key now: it is not shown again.");
      };
    }
    case "env list":
      noExtra();
      return async ({ db, lib }) => {
        const rows = await lib.listEnvironments(db);
        const seen = new Set<string>();
        for (const row of rows) {
          if (seen.has(row.id)) continue;
          seen.add(row.id);
          const keys = rows.filter((r) => r.id === row.id && r.key_id !== null);
          const active = keys.filter((k) => k.revoked_at === null).length;
          out(
            `${row.id}\t${row.type}\t${row.project}\t${active} active key(s)\t${new Date(row.created_at).toISOString()}`,
          );
        }
        if (seen.size === 0) out("no environments");
      };
    case "key create":
      noExtra();
      if (!values.env) throw new UsageError("key create needs --env <envId>");
      return async ({ db, lib }) => {
        const key = await lib.createApiKey(
          { db, vault: await lib.openVault(db, process.env.SALVO_SECRET) },
          values.env!,
        );
        // Its id is what `key revoke` takes; keys are stored by digest, so look it up that way.
        const row = await db
          .selectFrom("api_keys")
          .select("id")
          .where("key_hash", "=", lib.hashSecretKey(key))
          .executeTakeFirstOrThrow();
        out(`key ${row.id} for ${values.env}`);
        out(`secret key: ${key}`);
        out("Store this key now: it is not shown again.");
      };
    case "key list":
      noExtra();
      return async ({ db, lib }) => {
        const keys = (await lib.listEnvironments(db)).filter((r) => r.key_id !== null);
        for (const k of keys)
          out(`${k.key_id}\t${k.id}\t${k.type}\t${k.key_prefix}\t${k.revoked_at ? "revoked" : "active"}`);
        if (keys.length === 0) out("no keys");
      };
    case "key revoke": {
      const [keyId, ...extra] = rest;
      if (!keyId) throw new UsageError("key revoke needs a key id (see key list)");
      if (extra.length > 0) throw new UsageError(`unexpected argument: ${extra.join(" ")}`);
      return async ({ db, lib }) => {
        if (!(await lib.revokeApiKey(db, keyId))) throw new Error(`no active key ${keyId}`);
        out(`revoked ${keyId}`);
      };
    }
    default:
      throw new UsageError(command ? `unknown command: ${command}` : "missing command");
  }
}

// Interrupted: exit through process.exit, so the embedded database's lock is released.
process.once("SIGINT", () => process.exit(130));
process.once("SIGTERM", () => process.exit(143));
process.exitCode = await main(process.argv.slice(2));
