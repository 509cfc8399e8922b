import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

export interface ChildSalvo {
  url: string;
  process: ChildProcess;
  /** Its bootstrap environment's secret key. */
  key: string;
  /** Everything it has written to stdout and stderr so far (its log). */
  output(): string;
  close(): Promise<void>;
}

/**
 * A second, separate server process (`tsx server/main.ts`) on the same Postgres and Redis, or
 * with other settings (e.g. `SALVO_DATA_DIR: "memory://"` for an embedded database of its own).
 */
export async function startChildSalvo(env: Record<string, string | undefined>, extraEnv: Record<string, string> = {}): Promise<ChildSalvo> {
  const port = await freePort();
  const key = `tr_dev_${randomBytes(12).toString("hex")}`;
  const child = spawn(`${ROOT}/node_modules/.bin/tsx`, ["server/main.ts"], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      SALVO_BOOTSTRAP_KEY: key,
      SALVO_LOG_LEVEL: "warn",
      ...env,
      ...extraEnv,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stderr!.on("data", (d) => (output += String(d)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child server did not start:\n${output}`)), 60_000);
    child.stdout!.on("data", (d) => {
      output += String(d);
      if (output.includes("salvo listening on")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`child server exited with ${code}:\n${output}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    process: child,
    key,
    output: () => output,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}
