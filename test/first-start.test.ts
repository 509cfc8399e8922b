import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { isRunning, type Started, spawnBuilt, waitForOutput } from "./support/built-server.js";
import { freePort } from "./support/private-services.js";

// A new user's first start, through the real commands on the build: `npm start` on the embedded
// default, the first key, signals, and the one-line reasons a start fails. The embedded default is
// what these are about, so they run on it in both modes of the suite (a bad DATABASE_URL needs no
// Postgres: nothing listens on port 1).
const dirs: string[] = [];
const started: Started[] = [];
const blockers: Server[] = [];
afterAll(() => {
  for (const s of started) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill("SIGKILL");
  for (const b of blockers) b.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const newDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "salvo-first-"));
  dirs.push(dir);
  return dir;
};
const embedded = (dataDir: string, port: number) => ({
  DATABASE_URL: undefined,
  REDIS_URL: undefined,
  SALVO_BOOTSTRAP_KEY: undefined,
  SALVO_DATA_DIR: dataDir,
  PORT: String(port),
  HOST: "127.0.0.1",
  SALVO_LOG_LEVEL: "warn",
});
const track = (s: Started) => {
  started.push(s);
  return s;
};
const server = (env: Record<string, string | undefined>) =>
  track(spawnBuilt(process.execPath, ["dist/server/main.js"], env));
const KEY_LINE = /Its secret key \(shown only now\):\s+(tr_dev_\w+)/;

const createBatch = (url: string, key: string) =>
  fetch(`${url}/api/v3/batches`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ runCount: 1 }),
  });

async function waitUntil(condition: () => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("npm start", () => {
  it("runs the build on plain node, prints the first key once it listens, and stops on SIGTERM sent to npm", async () => {
    const dir = newDir();
    const port = await freePort();
    const npm = track(spawnBuilt("npm", ["start"], embedded(dir, port)));
    const key = (await waitForOutput(npm, KEY_LINE))[1]!;
    const output = npm.output();
    expect(output.indexOf(`salvo listening on http://127.0.0.1:${port}`)).toBeLessThan(output.indexOf(key));

    // The server is node running the build (its pid holds the data directory's lock), not tsx.
    const pid = (JSON.parse(readFileSync(join(dir, "salvo.lock"), "utf8")) as { pid: number }).pid;
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
    expect(argv.slice(1)).toEqual(["dist/server/main.js"]);
    expect(argv.join(" ")).not.toContain("tsx");

    const url = `http://127.0.0.1:${port}`;
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready", database: "up", migrations: "current", redis: "unused" });
    expect((await createBatch(url, key)).status).toBe(202);

    npm.child.kill("SIGTERM");
    await npm.exited;
    await waitUntil(() => !isRunning(pid), 20_000);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  }, 90_000);
});

describe("the first key", () => {
  it("is not lost when the first start fails: a start that cannot listen creates no environment", async () => {
    const dir = newDir();
    const busy = await freePort();
    const blocker = createServer();
    blockers.push(blocker);
    await new Promise<void>((resolve) => blocker.listen(busy, "127.0.0.1", resolve));

    const failed = server(embedded(dir, busy));
    expect(await failed.exited).toBe(1);
    expect(failed.output()).not.toContain("secret key");
    expect(failed.output().trim().split("\n").at(-1)).toBe(
      `salvo failed to start: 127.0.0.1:${busy} is already in use: stop what listens there, or set PORT (or HOST)`,
    );

    const port = await freePort();
    const next = server(embedded(dir, port));
    const key = (await waitForOutput(next, KEY_LINE))[1]!;
    expect((await createBatch(`http://127.0.0.1:${port}`, key)).status).toBe(202);
    next.child.kill("SIGTERM");
    expect(await next.exited).toBe(0);
  }, 90_000);
});

describe("start failures and warnings", () => {
  it("an unreachable DATABASE_URL fails the start in one line naming it (password hidden)", async () => {
    const bad = server({
      ...embedded(newDir(), await freePort()),
      DATABASE_URL: "postgres://salvo:hunter2@127.0.0.1:1/salvo",
      SALVO_DB_CONNECT_TIMEOUT_MS: "2000",
    });
    expect(await bad.exited).toBe(1);
    expect(bad.output()).toBe(
      "salvo failed to start: cannot use the database at DATABASE_URL (postgres://salvo:***@127.0.0.1:1/salvo): connect ECONNREFUSED 127.0.0.1:1\n",
    );
  }, 60_000);

  it.skipIf(!process.env.DATABASE_URL)(
    "a DATABASE_URL naming a database that does not exist fails in one line naming it",
    async () => {
      const url = new URL(process.env.DATABASE_URL!);
      url.pathname = "/salvo_no_such_database";
      const bad = server({ ...embedded(newDir(), await freePort()), DATABASE_URL: url.toString() });
      expect(await bad.exited).toBe(1);
      expect(bad.output()).toMatch(
        /^salvo failed to start: cannot use the database at DATABASE_URL \(postgres:\/\/\S+\/salvo_no_such_database\): database "salvo_no_such_database" does not exist\n$/,
      );
    },
    60_000,
  );

  it("Redis down at start is a warning at start, and the server serves", async () => {
    const port = await freePort();
    const s = server({ ...embedded(newDir(), port), REDIS_URL: "redis://127.0.0.1:1" });
    await waitForOutput(s, /Redis at REDIS_URL does not answer/);
    const key = (await waitForOutput(s, KEY_LINE))[1]!;
    expect((await createBatch(`http://127.0.0.1:${port}`, key)).status).toBe(202);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(await ready.json()).toMatchObject({ status: "ready", database: "up", redis: "down" });
    s.child.kill("SIGTERM");
    expect(await s.exited).toBe(0);
  }, 60_000);
});
