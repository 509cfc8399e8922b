/**
 * `npx tsx bench/embedded-memory.ts`: the embedded default's memory (no DATABASE_URL, no Redis),
 * against the floor PGlite itself sets. Four processes, each measured from /proc (VmHWM is the
 * peak, VmRSS after a settle of 3 s the idle figure):
 *
 * - Salvo's first start on an empty data directory (`node dist/server/main.js`: PGlite's initdb,
 *   the migrations, then serving), and a restart on that directory;
 * - bare PGlite (`PGlite.create` on a directory, `select 1`, nothing else) on an empty directory
 *   and again on the one it made: what any process embedding PGlite pays, Salvo or not.
 *
 * Run `npm run build` first (it measures the build, what `npm start` runs).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SETTLE_MS = 3_000;

function kb(pid: number, field: "VmHWM" | "VmRSS"): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : 0;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Waits for `ready`, lets the process settle, and reads its idle and peak memory. */
async function measure(
  child: ChildProcess,
  ready: () => Promise<boolean>,
): Promise<{ idleMb: number; peakMb: number }> {
  const deadline = Date.now() + 120_000;
  while (!(await ready())) {
    if (child.exitCode !== null) throw new Error(`process exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error("process not ready within 120 s");
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const result = { idleMb: kb(child.pid!, "VmRSS") / 1024, peakMb: kb(child.pid!, "VmHWM") / 1024 };
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
  return result;
}

async function salvo(dataDir: string) {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: "127.0.0.1", SALVO_DATA_DIR: dataDir };
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  const child = spawn(process.execPath, ["dist/server/main.js"], { cwd: ROOT, env, stdio: "ignore" });
  return measure(child, async () => {
    try {
      return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok;
    } catch {
      return false;
    }
  });
}

async function barePglite(dataDir: string) {
  const script = `
    const { PGlite } = await import("@electric-sql/pglite");
    const db = await PGlite.create(${JSON.stringify(dataDir)});
    await db.query("select 1");
    console.log("ready");
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  return measure(child, async () => out.includes("ready"));
}

const dirs = [mkdtempSync(join(tmpdir(), "salvo-mem-")), mkdtempSync(join(tmpdir(), "pglite-mem-"))];
try {
  const rows = [
    ["Salvo, first start (empty directory)", await salvo(join(dirs[0]!, "data"))],
    ["Salvo, restart (same directory)", await salvo(join(dirs[0]!, "data"))],
    ["bare PGlite, first start (empty directory)", await barePglite(join(dirs[1]!, "data"))],
    ["bare PGlite, restart (same directory)", await barePglite(join(dirs[1]!, "data"))],
  ] as const;
  console.log("| process | idle RSS MB | peak RSS MB |\n| --- | --- | --- |");
  for (const [name, m] of rows) console.log(`| ${name} | ${m.idleMb.toFixed(0)} | ${m.peakMb.toFixed(0)} |`);
} finally {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}
