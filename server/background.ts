import type { Deps } from "./deps.js";

/** Work a server does on a timer: promote delayed runs, expire TTLs, reclaim lost leases, prune... */
export interface BackgroundTask {
  name: string;
  /** Fixed, or read from the configuration. */
  intervalMs: number | ((deps: Deps) => number);
  run(deps: Deps): Promise<void>;
}

/**
 * Runs each task on its interval, never two runs of one task at once. Every task must be safe
 * with several server processes doing the same (conditional updates, SKIP LOCKED), since any
 * number of servers may share one database.
 */
export function startBackgroundTasks(deps: Deps, tasks: BackgroundTask[]): () => Promise<void> {
  let stopped = false;
  const running = new Set<Promise<void>>();
  const timers = tasks.map((task) => {
    let busy = false;
    return setInterval(
      () => {
        if (busy || stopped) return;
        busy = true;
        const p = task
          .run(deps)
          .catch((err) => deps.log.error({ err, backgroundTask: task.name }, `background task ${task.name} failed`))
          .finally(() => {
            busy = false;
            running.delete(p);
          });
        running.add(p);
      },
      typeof task.intervalMs === "number" ? task.intervalMs : task.intervalMs(deps),
    );
  });
  return async () => {
    stopped = true;
    for (const t of timers) clearInterval(t);
    await Promise.allSettled([...running]);
  };
}
