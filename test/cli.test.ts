import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "../db/connect.js";
import { loadConfig } from "../server/config.js";
import { type RunningSalvo, startSalvo } from "../server/start.js";
import { RUN_STATUSES } from "../shared/schemas.js";
import { errorBody } from "./support/salvo.js";

// The `salvo` CLI, spawned as a user would run it: against DATABASE_URL when set, else against
// an embedded PGlite directory of its own. A server is started on the same database in between
// (never at the same time for PGlite, which one process at a time may open).
const ROOT = join(import.meta.dirname, "..");
const BIN = join(ROOT, "bin", "salvo.js");
const dataDir = mkdtempSync(join(tmpdir(), "salvo-cli-"));
const dbEnv = { DATABASE_URL: process.env.DATABASE_URL ?? "", SALVO_DATA_DIR: dataDir };
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}
function run(file: string, args: string[], cwd = ROOT): Promise<Result> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, env: { ...process.env, ...dbEnv } }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}
const salvo = (...args: string[]) => run(BIN, args);

/** A server on the CLI's database; closed (and PGlite released) before the CLI runs again. */
async function withServer<T>(fn: (server: RunningSalvo) => Promise<T>): Promise<T> {
  const config = loadConfig({
    ...process.env,
    ...dbEnv,
    PORT: "0",
    SALVO_LOG_LEVEL: "silent",
    SALVO_BOOTSTRAP_KEY: "",
  });
  const connection = await connect({ databaseUrl: config.databaseUrl, dataDir, poolSize: 2 });
  const server = await startSalvo(config, { connection });
  try {
    return await fn(server);
  } finally {
    await server.close();
    await connection.close();
  }
}
const createBatchWith = (server: RunningSalvo, key: string) =>
  fetch(`${server.url}/api/v3/batches`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ runCount: 1 }),
  });

describe("usage", () => {
  it("bad usage: one line naming the problem and where help is, exit 2, before any database is opened", async () => {
    const bad: Array<[string[], string]> = [
      [["bogus"], "salvo: unknown command 'bogus' (see `salvo --help`)"],
      [["env", "create"], "salvo: required option '--type <type>' not specified (see `salvo env create --help`)"],
      [
        ["env", "create", "--type", "qa"],
        "salvo: option '--type <type>' argument 'qa' is invalid. Allowed choices are dev, staging, prod, preview. (see `salvo env create --help`)",
      ],
      [["key", "create"], "salvo: required option '--env <envId>' not specified (see `salvo key create --help`)"],
      [["key", "revoke"], "salvo: missing required argument 'keyId' (see `salvo key revoke --help`)"],
      [
        ["env", "list", "extra"],
        "salvo: too many arguments for 'list'. Expected 0 arguments but got 1. (see `salvo env list --help`)",
      ],
      [["--nope"], "salvo: unknown option '--nope' (see `salvo --help`)"],
      [
        ["runs", "list", "--status", "DONE"],
        `salvo: option '--status <status>' argument 'DONE' is invalid. Allowed choices are ${RUN_STATUSES.join(", ")}. (see \`salvo runs list --help\`)`,
      ],
    ];
    // Bad usage is refused before the database is opened, so these can run side by side.
    const results = await Promise.all(bad.map(([args]) => salvo(...args)));
    for (const [i, r] of results.entries()) {
      expect(r.stderr, bad[i]![0].join(" ")).toBe(`${bad[i]![1]}\n`);
      expect(r.code, bad[i]![0].join(" ")).toBe(2);
      expect(r.stdout).toBe("");
    }
    // No command: the commands, on stderr, as bad usage.
    const none = await salvo();
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("Usage: salvo [options] [command]");
  });

  it("help for the program and for each command, exit 0", async () => {
    const [help, helpRuns, runsList, worker] = await Promise.all([
      salvo("--help"),
      salvo("help", "runs"),
      salvo("runs", "list", "--help"),
      salvo("worker", "--help"),
    ]);
    for (const r of [help, helpRuns, runsList, worker]) expect(r.code, r.stderr).toBe(0);
    for (const command of ["env", "key", "batch", "runs", "worker"])
      expect(help.stdout).toMatch(new RegExp(`^  ${command}\\b`, "m"));
    expect(help.stdout).toContain("An embedded\ndatabase is locked by the process using it: stop the server first.");
    expect(helpRuns.stdout).toMatch(/^ {2}list \[options\]/m);
    expect(helpRuns.stdout).toMatch(/^ {2}cancel <runId>/m);
    expect(helpRuns.stdout).toMatch(/^ {2}replay <runId>/m);
    for (const option of ["--batch <batchId>", "--status <status>", "--task <task>", "--tag <tag>"])
      expect(runsList.stdout).toContain(option);
    expect(worker.stdout).toContain("Usage: salvo worker [options] <module>");
  });

  it("npm run salvo runs the same CLI", async () => {
    const r = await run("npm", ["run", "-s", "salvo", "--", "env"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Usage: salvo env [options] [command]");
  });
});

// One story, in order: each CLI call opens the database anew (seconds each on PGlite), so the
// calls are as few as cover every command.
describe("environments and keys", () => {
  beforeAll(async () => {
    const migrate = await run("npm", ["run", "-s", "migrate"]);
    expect(migrate.code, migrate.stderr).toBe(0);
    expect(migrate.stdout).toContain("migrations applied");
  });

  it("env create, key create, env list, key list, key revoke; CLI keys authenticate, a revoked one gets 401", async () => {
    const created = await salvo("env", "create", "--type", "staging", "--project", "cli-test");
    expect(created.code, created.stderr).toBe(0);
    const envId = /environment (env_[1-9a-km-z]{21}) \(staging, project cli-test\)/.exec(created.stdout)![1]!;
    const firstKey = /secret key: (tr_stg_\S+)/.exec(created.stdout)![1]!;
    expect(created.stdout).toContain("it is not shown again");

    const added = await salvo("key", "create", "--env", envId);
    expect(added.code, added.stderr).toBe(0);
    const keyId = new RegExp(`key (key_\\w+) for ${envId}`).exec(added.stdout)![1]!;
    const secondKey = /secret key: (tr_stg_\S+)/.exec(added.stdout)![1]!;
    expect(secondKey).not.toBe(firstKey);

    const envs = await salvo("env", "list");
    expect(envs.code).toBe(0);
    expect(envs.stdout).toMatch(new RegExp(`^${envId}\tstaging\tcli-test\t2 active key\\(s\\)`, "m"));
    // Secrets are printed only when made: lists show prefixes.
    expect(envs.stdout).not.toContain(firstKey);

    await withServer(async (server) => {
      expect((await createBatchWith(server, firstKey)).status).toBe(202);
      expect((await createBatchWith(server, secondKey)).status).toBe(202);
    });

    const revoked = await salvo("key", "revoke", keyId);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toContain(`revoked ${keyId}`);

    const keys = await salvo("key", "list");
    const mine = keys.stdout.split("\n").filter((line) => line.includes(envId));
    expect(mine).toHaveLength(2);
    expect(mine.find((line) => line.startsWith(keyId))).toMatch(/\trevoked$/);
    expect(mine.filter((line) => line.endsWith("\tactive"))).toHaveLength(1);
    expect(keys.stdout).not.toContain(secondKey);

    await withServer(async (server) => {
      const res = await createBatchWith(server, secondKey);
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual(errorBody("Invalid API key"));
      expect((await createBatchWith(server, firstKey)).status).toBe(202);
    });
  });
});
