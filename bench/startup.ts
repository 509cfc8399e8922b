/**
 * `npx tsx bench/startup.ts [runs]`: how long the server takes from spawn to its first healthy
 * `/healthz`, and its resident memory then (RSS of the process and its children), for the build
 * (`node dist/server/main.js`, what `npm start` runs) against the sources through tsx (`node
 * --import tsx server/main.ts`, what it ran before the build). Medians over `runs` (default 5),
 * alternating the two, on DATABASE_URL (default: the bench's Postgres), without Redis.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { benchConfig } from "./config.js";
import { ensureDatabase } from "./databases.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const runs = Number(process.argv[2] ?? 5);
const databaseUrl = process.env.DATABASE_URL ?? benchConfig.databaseUrl;
const COMMANDS = {
  "node dist/server/main.js": ["dist/server/main.js"],
  "node --import tsx server/main.ts": ["--import", "tsx", "server/main.ts"],
};

function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : 0;
}

/** The process and all its descendants, from /proc. */
function tree(root: number): number[] {
  const parents = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone meanwhile
    }
  }
  const pids = [root];
  for (let i = 0; i < pids.length; i++)
    for (const [pid, parent] of parents) if (parent === pids[i] && !pids.includes(pid)) pids.push(pid);
  return pids;
}

async function once(args: string[], port: number): Promise<{ ms: number; rssMb: number }> {
  const started = performance.now();
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: databaseUrl, REDIS_URL: "", PORT: String(port), SALVO_LOG_LEVEL: "warn" },
    stdio: "ignore",
  });
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${args.join(" ")} exited with ${child.exitCode}`);
      const ok = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const ms = performance.now() - started;
    const rssMb = tree(child.pid!).reduce((sum, pid) => sum + rssKb(pid), 0) / 1024;
    return { ms, rssMb };
  } finally {
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

await ensureDatabase(databaseUrl);
const results = new Map<string, { ms: number[]; rssMb: number[] }>();
for (let i = 0; i < runs; i++) {
  for (const [name, args] of Object.entries(COMMANDS)) {
    const r = await once(args, 3900 + i);
    const entry = results.get(name) ?? { ms: [], rssMb: [] };
    entry.ms.push(r.ms);
    entry.rssMb.push(r.rssMb);
    results.set(name, entry);
  }
}
console.log(`| command | spawn to healthy (median of ${runs}) | RSS then (median) |`);
console.log("| --- | --- | --- |");
for (const [name, r] of results)
  console.log(
    `| \`${name}\` | ${median(r.ms).toFixed(0)} ms (${Math.min(...r.ms).toFixed(0)}–${Math.max(...r.ms).toFixed(0)}) | ${median(r.rssMb).toFixed(0)} MB (${Math.min(...r.rssMb).toFixed(0)}–${Math.max(...r.rssMb).toFixed(0)}) |`,
  );
