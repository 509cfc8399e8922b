import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { freePort } from "../support/private-services.js";

/**
 * Real processes for the chaos suite: servers and workers are `node …` children (node itself, so
 * `kill -9` of the child kills the server, not a wrapper around it), on a private
 * Postgres and Redis (test/support/private-services.ts) or an embedded data directory.
 */
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export const newKey = () => `tr_dev_${randomBytes(12).toString("hex")}`;

export interface ServerProcess {
  url: string;
  port: number;
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (null when a signal ended it). */
  exited: Promise<number | null>;
  kill9(): Promise<void>;
  /** SIGTERM, then waits for the exit. */
  term(): Promise<number | null>;
}

/**
 * Starts the built server (`dist/server/main.js`, what `npm start` runs; `npm run test:chaos`
 * builds it first) and waits for "salvo listening"; `env` replaces DATABASE_URL/REDIS_URL.
 */
export async function startServer(env: Record<string, string | undefined>, port?: number): Promise<ServerProcess> {
  const chosen = port ?? (await freePort());
  const merged: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: undefined,
    REDIS_URL: undefined,
    // The outage tests retry at once on each quick 503, thousands of requests in seconds: the rate
    // limits are tested elsewhere (test/limits-rate.test.ts, test/request-rate-limit.test.ts).
    SALVO_BATCH_RATE_LIMIT_MAX: "100000000",
    SALVO_RATE_LIMIT_MAX: "100000000",
    SALVO_LOG_LEVEL: "warn",
    ...env,
    PORT: String(chosen),
    HOST: "127.0.0.1",
  };
  for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k];
  const child = spawn(process.execPath, ["dist/server/main.js"], {
    cwd: ROOT,
    env: merged,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d) => (output += String(d)));
  child.stderr!.on("data", (d) => (output += String(d)));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (output.includes("salvo listening on")) {
        clearInterval(timer);
        resolve();
      }
    }, 20);
    void exited.then((code) => {
      clearInterval(timer);
      reject(new Error(`server exited with ${code}:\n${output}`));
    });
  });
  // main() installs its signal handlers right after printing: give it that moment.
  await new Promise((r) => setTimeout(r, 200));
  return {
    url: `http://127.0.0.1:${chosen}`,
    port: chosen,
    child,
    output: () => output,
    exited,
    async kill9() {
      child.kill("SIGKILL");
      await exited;
    },
    async term() {
      child.kill("SIGTERM");
      return exited;
    },
  };
}

/** A worker process serving test/fixtures/recording-tasks.ts, recording each execution to `file`. */
export function startWorker(url: string, key: string, file: string, concurrency = 20): ChildProcess {
  return spawn(process.execPath, ["bin/salvo.js", "worker", "test/fixtures/recording-tasks.ts"], {
    cwd: ROOT,
    env: {
      ...process.env,
      SALVO_URL: url,
      SALVO_API_KEY: key,
      SALVO_WORKER_CONCURRENCY: String(concurrency),
      RECORD_FILE: file,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** One query against the private Postgres, on a connection of its own. */
export async function query<T = Record<string, unknown>>(
  url: string,
  text: string,
  values: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as T[];
  } finally {
    await client.end();
  }
}

export const api = (url: string, key: string, path: string, init: RequestInit & { json?: unknown } = {}) => {
  const { json, headers, ...rest } = init;
  return fetch(url + path, {
    ...rest,
    method: rest.method ?? (json !== undefined ? "POST" : "GET"),
    headers: {
      authorization: `Bearer ${key}`,
      ...(json !== undefined ? { "content-type": "application/json" } : {}),
      ...(headers as Record<string, string>),
    },
    body: json !== undefined ? JSON.stringify(json) : rest.body,
  });
};

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** NDJSON lines for items 0..n-1 of task `task`. */
export function* itemLines(n: number, task: string): Generator<string> {
  for (let i = 0; i < n; i++) yield `${JSON.stringify({ index: i, task, payload: { i } })}\n`;
}

/** A request body streaming `lines` in slices, pausing `pauseMs` between slices (a slow client). */
export function slowBody(lines: Iterable<string>, slice: number, pauseMs: number): ReadableStream<Uint8Array> {
  const iterator = lines[Symbol.iterator]();
  const encoder = new TextEncoder();
  return new ReadableStream({
    async pull(controller) {
      let text = "";
      for (let k = 0; k < slice; k++) {
        const next = iterator.next();
        if (next.done) break;
        text += next.value;
      }
      if (text === "") return controller.close();
      controller.enqueue(encoder.encode(text));
      await sleep(pauseMs);
    },
  });
}

/** Streams items to a two-phase batch; resolves with the HTTP status (or the network error). */
export async function streamItems(
  url: string,
  key: string,
  batchId: string,
  body: ReadableStream<Uint8Array> | string,
) {
  try {
    const res = await fetch(`${url}/api/v3/batches/${batchId}/items`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/x-ndjson" },
      body,
      duplex: "half", // Node's fetch needs it for a streamed body
    } as RequestInit);
    return { status: res.status, body: await res.text() };
  } catch (err) {
    return { status: 0, body: String((err as Error).cause ?? err) };
  }
}
