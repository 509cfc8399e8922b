import { Logger, makeWorkerUtils, type Runner, run, type WorkerUtils } from "graphile-worker";
import { type BenchItem, TASK } from "../workload.js";

/** graphile-worker: `addJobs()` for the batch; `run({ concurrency })` with a no-op task to drain. */
export class GraphilePeer {
  private constructor(
    private readonly databaseUrl: string,
    private readonly utils: WorkerUtils,
  ) {}

  static async open(databaseUrl: string): Promise<GraphilePeer> {
    const utils = await makeWorkerUtils({ connectionString: databaseUrl });
    await utils.migrate();
    return new GraphilePeer(databaseUrl, utils);
  }

  async insert(items: BenchItem[]): Promise<void> {
    await this.utils.addJobs(
      items.map((it) => ({ identifier: TASK, payload: { ...it.payload, tags: it.tags }, jobKey: it.key })),
    );
  }

  /** Starts a runner with `concurrency` slots; resolves once `count` jobs have succeeded. */
  async drain(count: number, concurrency: number): Promise<void> {
    let done = 0;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const runner: Runner = await run({
      connectionString: this.databaseUrl,
      concurrency,
      noHandleSignals: true,
      pollInterval: 100,
      logger: quietLogger,
      taskList: { [TASK]: async () => {} },
    });
    runner.events.on("job:complete", () => {
      if (++done === count) finish();
    });
    await finished;
    await runner.stop();
  }

  /** Removes every job left in the queue, so a drain starts from an empty queue. */
  async reset() {
    await this.utils.withPgClient((client) => client.query("delete from graphile_worker._private_jobs"));
  }

  close() {
    return this.utils.release();
  }
}

const quietLogger = new Logger(() => (level: string, message: string) => {
  if (level === "error") console.error("graphile-worker:", message);
});
