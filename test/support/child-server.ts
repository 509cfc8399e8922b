import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { freePort } from "./private-services.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface ChildSalvo {
  url: string;
  process: ChildProcess;
  /** The key of the environment the child bootstrapped. */
  key: string;
  /** Everything the child printed so far (stdout and stderr). */
  output(): string;
  /** SIGTERM, and resolves with the exit code once it exited. */
  close(): Promise<number | null>;
}

/**
 * A separate server process (`tsx server/main.ts`): on the Postgres and Redis given (a variable
 * left out is unset in the child, so no Redis means in-process adapters), plus any other settings
 * (e.g. `SALVO_DATA_DIR: "memory://"` for an embedded database of its own).
 */
export async function startChildSalvo(
  env: Record<string, string | undefined>,
  extraEnv: Record<string, string> = {},
): Promise<ChildSalvo> {
  const port = await freePort();
  // 32 hex characters: 24 had a 0.7 % chance of fewer than the 10 different ones a key needs (config.ts).
  const key = `tr_dev_${randomBytes(16).toString("hex")}`;
  const child = spawn(`${ROOT}/node_modules/.bin/tsx`, ["server/main.ts"], {
    cwd: ROOT,
    env: {
      ...process.env,
      REDIS_URL: undefined,
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
  child.stdout!.on("data", (d) => (output += String(d)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child server did not start:\n${output}`)), 60_000);
    const onData = () => {
      if (output.includes("salvo listening on")) {
        clearTimeout(timer);
        child.stdout!.off("data", onData);
        resolve();
      }
    };
    child.stdout!.on("data", onData);
    child.once("exit", (code) => {
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
      new Promise<number | null>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
        child.once("exit", (code) => resolve(code));
        child.kill("SIGTERM");
      }),
  };
}
