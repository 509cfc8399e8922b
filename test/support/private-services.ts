import { type ChildProcess, execFile, spawn } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

/**
 * A Postgres cluster and a Redis server of a test's own, on free ports, so fault tests can stop,
 * restart, kill and freeze them without ever touching the machine's services (which CI and every
 * other test share).
 */

const run = promisify(execFile);
const PG_BIN = "/usr/lib/postgresql/15/bin";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

/** Postgres refuses to run as root: as root, its commands run as the `postgres` user. */
const asPostgres = (cmd: string, args: string[]) =>
  process.getuid?.() === 0 ? run("runuser", ["-u", "postgres", "--", cmd, ...args]) : run(cmd, args);

export interface PrivatePostgres {
  port: number;
  /** A URL to the cluster's `postgres` database (trust auth). */
  url: string;
  /** Starts the cluster (again) and waits until it accepts connections. */
  start(): Promise<void>;
  /** `pg_ctl stop` with the given mode: `fast` ends sessions with 57P01, `immediate` is a crash. */
  stop(mode?: "smart" | "fast" | "immediate"): Promise<void>;
  /**
   * SIGSTOP to the postmaster and every backend: connections stay open and nothing answers (a
   * hung host, a network partition that drops packets), unlike a stop that closes them.
   */
  freeze(): Promise<void>;
  /** SIGCONT to the same processes. */
  thaw(): Promise<void>;
  /** Stops the cluster and deletes its files. */
  close(): Promise<void>;
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "salvo-pg-"));
  chmodSync(dir, 0o700);
  if (process.getuid?.() === 0)
    chownSync(
      dir,
      Number((await run("id", ["-u", "postgres"])).stdout),
      Number((await run("id", ["-g", "postgres"])).stdout),
    );
  const data = join(dir, "data");
  await asPostgres(`${PG_BIN}/initdb`, ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
  /** The postmaster (first line of postmaster.pid) and its children, the backends. */
  const signalCluster = async (signal: "SIGSTOP" | "SIGCONT") => {
    const postmaster = Number(readFileSync(join(data, "postmaster.pid"), "utf8").split("\n")[0]);
    const children = await run("pgrep", ["-P", String(postmaster)]).then(
      ({ stdout }) => stdout.split("\n").filter(Boolean).map(Number),
      () => [] as number[],
    );
    // Children first when stopping, so the postmaster cannot start a replacement in between.
    const order = signal === "SIGSTOP" ? [...children, postmaster] : [postmaster, ...children];
    for (const pid of order) process.kill(pid, signal);
  };
  const pg: PrivatePostgres = {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async start() {
      await asPostgres(`${PG_BIN}/pg_ctl`, [
        "-D",
        data,
        "-o",
        options,
        "-l",
        join(dir, "log"),
        "-w",
        "-t",
        "60",
        "start",
      ]);
    },
    async stop(mode = "fast") {
      await asPostgres(`${PG_BIN}/pg_ctl`, ["-D", data, "-m", mode, "-w", "-t", "60", "stop"]);
    },
    freeze: () => signalCluster("SIGSTOP"),
    thaw: () => signalCluster("SIGCONT"),
    async close() {
      await pg.thaw().catch(() => {});
      if (existsSync(join(data, "postmaster.pid"))) await pg.stop("immediate").catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await pg.start();
  return pg;
}

export interface PrivateRedis {
  port: number;
  url: string;
  process: ChildProcess;
  /** Starts the server (again) on the same port. */
  start(): Promise<void>;
  /** `kill -9`. */
  kill(): Promise<void>;
  /** SIGSTOP: the port stays open, nothing answers. */
  freeze(): void;
  /** SIGCONT. */
  thaw(): void;
  close(): Promise<void>;
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort();
  let child!: ChildProcess;
  const redis: PrivateRedis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    get process() {
      return child;
    },
    async start() {
      child = spawn(
        "redis-server",
        ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        {
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      await new Promise<void>((resolve, reject) => {
        let output = "";
        const timer = setTimeout(() => reject(new Error(`redis did not start:\n${output}`)), 10_000);
        child.stdout!.on("data", (d) => {
          output += String(d);
          if (output.includes("Ready to accept connections")) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.once("exit", (code) => {
          clearTimeout(timer);
          reject(new Error(`redis exited with ${code}:\n${output}`));
        });
      });
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
    },
    freeze: () => void child.kill("SIGSTOP"),
    thaw: () => void child.kill("SIGCONT"),
    async close() {
      redis.thaw();
      await redis.kill();
    },
  };
  await redis.start();
  return redis;
}
