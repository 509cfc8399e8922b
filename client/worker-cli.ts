import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { createWorker, type TaskHandler } from "./worker.js";

/**
 * `npm run worker -- <module>`: starts a worker for the tasks a module exports, either as
 * `export const tasks = { "send-email": async (payload, ctx) => … }`, as a default export of that
 * shape, or as named function exports (each export name is a task id).
 * Settings: SALVO_URL (default http://127.0.0.1:3030), SALVO_API_KEY (required),
 * SALVO_WORKER_CONCURRENCY (default 10).
 */
async function main(argv: string[]): Promise<number> {
  const file = argv[0];
  if (!file || file === "--help" || file === "-h") {
    console.error(
      "usage: npm run worker -- <module exporting tasks>\n  env: SALVO_API_KEY (required), SALVO_URL, SALVO_WORKER_CONCURRENCY",
    );
    return file ? 0 : 2;
  }
  const apiKey = process.env.SALVO_API_KEY;
  if (!apiKey) {
    console.error("SALVO_API_KEY must be set to an environment's secret key");
    return 2;
  }
  const concurrency = Number(process.env.SALVO_WORKER_CONCURRENCY ?? 10);
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    console.error("SALVO_WORKER_CONCURRENCY must be a positive whole number");
    return 2;
  }
  const mod = (await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>;
  const tasks = findTasks(mod);
  if (Object.keys(tasks).length === 0) {
    console.error(`${file} exports no tasks: export const tasks = { "task-id": async (payload, ctx) => ... }`);
    return 2;
  }
  const worker = createWorker({ url: process.env.SALVO_URL ?? "http://127.0.0.1:3030", apiKey, tasks, concurrency });
  await worker.ready;
  console.log(`worker ${worker.id} serving ${Object.keys(tasks).join(", ")} (concurrency ${concurrency})`);
  await new Promise<void>((done) => {
    const stop = async (signal: string) => {
      console.log(`${signal}: finishing running handlers, then stopping`);
      await worker.stop();
      done();
    };
    process.once("SIGINT", () => void stop("SIGINT"));
    process.once("SIGTERM", () => void stop("SIGTERM"));
  });
  return 0;
}

function findTasks(mod: Record<string, unknown>): Record<string, TaskHandler> {
  const isTaskMap = (v: unknown): v is Record<string, TaskHandler> =>
    typeof v === "object" &&
    v !== null &&
    Object.values(v).length > 0 &&
    Object.values(v).every((f) => typeof f === "function");
  if (isTaskMap(mod.tasks)) return mod.tasks;
  if (isTaskMap(mod.default)) return mod.default;
  return Object.fromEntries(Object.entries(mod).filter(([, v]) => typeof v === "function")) as Record<
    string,
    TaskHandler
  >;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
