import { router } from "../init.js";
import { batchRouter } from "./batch.js";
import { queueRouter } from "./queue.js";
import { runRouter } from "./run.js";
import { taskRouter } from "./task.js";
import { workerRouter } from "./worker.js";

export const appRouter = router({
  batch: batchRouter,
  run: runRouter,
  task: taskRouter,
  queue: queueRouter,
  worker: workerRouter,
});

export type AppRouter = typeof appRouter;
