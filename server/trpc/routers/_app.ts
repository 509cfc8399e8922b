import { router } from "../init.js";
import { batchRouter } from "./batch.js";
import { runRouter } from "./run.js";
import { taskRouter } from "./task.js";

export const appRouter = router({
  batch: batchRouter,
  run: runRouter,
  task: taskRouter,
});

export type AppRouter = typeof appRouter;
