import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DataDirLockedError, lockDataDir } from "../db/data-dir-lock.js";
import { freePort } from "./support/private-services.js";

// The embedded (PGlite) data directory is held by one process at a time: a second server or the
// CLI is refused with the holder's pid; a dead holder's lock is taken over. (A server killed with
// kill -9 and started again is in the chaos suite: test/chaos/embedded.chaos.test.ts.)
const ROOT = join(import.meta.dirname, "..");
const dirs: string[] = [];
const children: ChildProcess[] = [];
afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
const newDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "salvo-lock-"));
  dirs.push(dir);
  return dir;
};
const embeddedEnv = (dataDir: string, extra: Record<string, string> = {}) => {
  const env: NodeJS.ProcessEnv = { ...process.env, SALVO_DATA_DIR: dataDir, SALVO_LOG_LEVEL: "warn", ...extra };
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  return env;
};

interface Server {
  child: ChildProcess;
  output: () => string;
  /** Resolves with the listening URL, or rejects with the exit code and output. */
  started: Promise<string>;
  exited: Promise<number | null>;
}

/** `node --import tsx server/main.ts` (node itself, so the child's pid is the server's). */
async function startServer(dataDir: string): Promise<Server> {
  const port = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", "server/main.ts"], {
    cwd: ROOT,
    env: embeddedEnv(dataDir, { PORT: String(port) }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let output = "";
  child.stdout!.on("data", (d) => (output += String(d)));
  child.stderr!.on("data", (d) => (output += String(d)));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const started = new Promise<string>((resolve, reject) => {
    const check = setInterval(() => {
      const match = /salvo listening on (\S+)/.exec(output);
      if (match) {
        clearInterval(check);
        resolve(match[1]!);
      }
    }, 20);
    void exited.then((code) => {
      clearInterval(check);
      reject(new Error(`server exited with ${code}:\n${output}`));
    });
  });
  started.catch(() => {});
  return { child, output: () => output, started, exited };
}

const stop = async (server: Server) => {
  server.child.kill("SIGTERM");
  return server.exited;
};

function runCli(
  dataDir: string,
  args: string[],
  cwd = ROOT,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(join(ROOT, "bin", "salvo.js"), args, { cwd, env: embeddedEnv(dataDir) }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** The pid of a process that has exited: certainly not alive. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""]);
  await new Promise((resolve) => child.once("exit", resolve));
  return child.pid!;
}

const lockFile = (dir: string) => join(dir, "salvo.lock");
const holderOf = (dir: string) => JSON.parse(readFileSync(lockFile(dir), "utf8")) as { pid: number };

describe("embedded data directory lock", () => {
  it("a second server on the same directory exits non-zero naming the holder's pid; the CLI is refused too", async () => {
    const dir = newDir();
    const first = await startServer(dir);
    await first.started;
    expect(holderOf(dir).pid).toBe(first.child.pid);

    const second = await startServer(dir);
    expect(await second.exited).toBe(1);
    expect(second.output()).toContain(`in use by process ${first.child.pid}`);

    const cli = await runCli(dir, ["env", "list"]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain(`in use by process ${first.child.pid}`);
    expect(cli.stderr).toContain("stop it first");

    // The first server was never disturbed, and its lock goes with it.
    expect(first.child.exitCode).toBeNull();
    expect(await stop(first)).toBe(0);
    expect(existsSync(lockFile(dir))).toBe(false);
    const after = await runCli(dir, ["env", "list"]);
    expect(after.code, after.stderr).toBe(0);
    expect(after.stdout).toMatch(/^env_\w+\tdev\t/m);
  }, 120_000);

  it("a lock of a dead pid, or of a pid reused by a younger process, is taken over", async () => {
    const dir = newDir();
    const pid = await deadPid();
    writeFileSync(
      lockFile(dir),
      JSON.stringify({ pid, hostname: hostname(), processStart: null, lockedAt: "2026-01-01T00:00:00Z" }),
    );
    const lock = lockDataDir(dir);
    expect(holderOf(dir).pid).toBe(process.pid);
    lock.release();
    expect(existsSync(lockFile(dir))).toBe(false);

    // Our own pid, but recorded with another start time: the pid was reused, the holder is gone.
    writeFileSync(
      lockFile(dir),
      JSON.stringify({ pid: process.pid, hostname: hostname(), processStart: "1", lockedAt: "x" }),
    );
    lockDataDir(dir).release();

    // A live holder (this very process) is refused, however often asked.
    const held = lockDataDir(dir);
    expect(() => lockDataDir(dir)).toThrow(DataDirLockedError);
    expect(() => lockDataDir(dir)).toThrow(`in use by process ${process.pid}`);
    held.release();
  });

  it("of five processes recovering the same stale lock at once, exactly one wins", async () => {
    const dir = newDir();
    writeFileSync(
      lockFile(dir),
      JSON.stringify({ pid: await deadPid(), hostname: hostname(), processStart: null, lockedAt: "x" }),
    );
    // Each holds what it won for 3 s, so a late recoverer would find a live holder.
    const script = `
      import { lockDataDir } from "./db/data-dir-lock.ts";
      try { lockDataDir(${JSON.stringify(dir)}); console.log("won"); await new Promise((r) => setTimeout(r, 3000)); }
      catch (e) { console.log(e.name === "DataDirLockedError" ? "refused" : "error " + e.message); }`;
    const results = await Promise.all(
      Array.from(
        { length: 5 },
        () =>
          new Promise<string>((resolve) =>
            execFile(
              process.execPath,
              ["--import", "tsx", "--input-type=module", "-e", script],
              { cwd: ROOT },
              (_err, stdout) => resolve(stdout.trim()),
            ),
          ),
      ),
    );
    expect(
      results.filter((r) => r === "won"),
      results.join(","),
    ).toHaveLength(1);
    expect(
      results.filter((r) => r === "refused"),
      results.join(","),
    ).toHaveLength(4);
    expect(existsSync(lockFile(dir))).toBe(false);
  }, 60_000);

  it("the CLI does not create a database where there is none", async () => {
    const elsewhere = newDir();
    const r = await runCli(join(elsewhere, ".salvo"), ["env", "list"], elsewhere);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`no Salvo database in ${join(elsewhere, ".salvo")}`);
    expect(existsSync(join(elsewhere, ".salvo"))).toBe(false);
  });
});
