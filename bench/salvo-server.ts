import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
/**
 * The key the bench provisions through SALVO_BOOTSTRAP_KEY: BENCH_SALVO_KEY (to reuse a database
 * built by an earlier run, see BENCH_FLAT_REUSE), else a random one made once per bench process.
 */
export const BENCH_KEY = process.env.BENCH_SALVO_KEY || `tr_dev_${randomBytes(16).toString("hex")}`;

export interface SalvoProcess {
  url: string;
  key: string;
  pid: number;
  /** Peak resident set size of the server process so far (VmHWM), in kB. */
  peakRssKb(): number;
  /** Current resident set size (VmRSS), in kB. */
  rssKb(): number;
  stop(): Promise<void>;
}

function procStatusKb(pid: number, field: "VmHWM" | "VmRSS"): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]);
}

/**
 * Salvo as its own process, as it is deployed, so its memory is its own: `node
 * dist/server/main.js`, the build `npm start` runs (`npm run bench` builds first).
 */
export async function startSalvoProcess(opts: {
  databaseUrl: string;
  redisUrl?: string;
  port: number;
  env?: Record<string, string>;
  nodeArgs?: string[];
}): Promise<SalvoProcess> {
  const child: ChildProcess = spawn(process.execPath, [...(opts.nodeArgs ?? []), "dist/server/main.js"], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: opts.databaseUrl,
      ...(opts.redisUrl ? { REDIS_URL: opts.redisUrl } : { REDIS_URL: "" }),
      SALVO_BOOTSTRAP_KEY: BENCH_KEY,
      PORT: String(opts.port),
      HOST: "127.0.0.1",
      SALVO_LOG_LEVEL: "warn",
      // The bench measures throughput, not the rate limiters (1,200 batch items and 3,000 requests per environment by default).
      SALVO_BATCH_RATE_LIMIT_MAX: "1000000000",
      SALVO_RATE_LIMIT_MAX: "1000000000",
      ...opts.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => {
    output += d;
    process.stderr.write(`[salvo] ${d}`);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = `http://127.0.0.1:${opts.port}`;

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`salvo exited with ${child.exitCode} before it was ready:\n${output}`);
    try {
      // The bootstrap key is provisioned once the server listens (server/start.ts): ready is when
      // it is accepted (an unknown batch answers 404, not 401).
      const res = await fetch(`${url}/api/v1/batches/batch_benchreadinessprobe`, {
        headers: { authorization: `Bearer ${BENCH_KEY}` },
      });
      if (res.status === 404) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`salvo did not become ready within 60 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const pid = child.pid!;
  return {
    url,
    key: BENCH_KEY,
    pid,
    peakRssKb: () => procStatusKb(pid, "VmHWM"),
    rssKb: () => procStatusKb(pid, "VmRSS"),
    async stop() {
      if (child.exitCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
