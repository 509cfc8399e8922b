/**
 * `salvo worker <module>`: a worker for the tasks a module exports, either as
 * `export const tasks = { "send-email": async (payload, ctx) => … }`, as a default export of that
 * shape, or as named function exports (each export name is a task id). The module's path is
 * resolved from the caller's directory; a TypeScript module is loaded through tsx.
 */
import { existsSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { describeFailure } from "../errors.js";
import { createWorker, type TaskHandler } from "../worker.js";
import { CommandError, callerPath, EXIT, serverConnection } from "./settings.js";

const TYPESCRIPT = /\.(?:c|m)?tsx?$/;

export async function runWorker(module: string, options: { concurrency: number }): Promise<number> {
  const conn = serverConnection();
  const path = callerPath(module);
  if (!existsSync(path)) throw new CommandError(`no such module: ${path}`, EXIT.usage);
  // Plain node cannot load TypeScript: tsx's loaders (ES modules and CommonJS, whichever the
  // caller's package makes the module) are registered for this process only when needed.
  if (TYPESCRIPT.test(path)) {
    (await import("tsx/esm/api")).register();
    (await import("tsx/cjs/api")).register();
  }
  const mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  const tasks = findTasks(mod);
  if (Object.keys(tasks).length === 0)
    throw new CommandError(
      `${module} exports no tasks: export const tasks = { "task-id": async (payload, ctx) => … }`,
      EXIT.usage,
    );
  const worker = createWorker({ ...conn, tasks, concurrency: options.concurrency });
  try {
    await worker.ready;
  } catch (err) {
    await worker.stop({ graceMs: 0 });
    throw new CommandError(describeFailure(err, conn.url));
  }
  console.log(`worker ${worker.id} serving ${Object.keys(tasks).join(", ")} (concurrency ${options.concurrency})`);
  await new Promise<void>((done) => {
    const stop = async (signal: string) => {
      console.log(`${signal}: finishing running handlers, then stopping`);
      await worker.stop();
      done();
    };
    process.once("SIGINT", () => void stop("SIGINT"));
    process.once("SIGTERM", () => void stop("SIGTERM"));
  });
  return EXIT.ok;
}

function findTasks(loaded: Record<string, unknown>): Record<string, TaskHandler> {
  // A CommonJS module (a TypeScript file in a package without "type": "module") comes back as
  // { default: module.exports }: its exports are the default's properties.
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;
  const mod = isObject(loaded.default) && "tasks" in loaded.default && !("tasks" in loaded) ? loaded.default : loaded;
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
