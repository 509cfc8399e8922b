import PgBoss from "pg-boss";
import { type BenchItem, TASK } from "../workload.js";

/**
 * pg-boss (v10): `insert()` for the batch. For the drain, one loop fetches up to `concurrency`
 * jobs (`fetch` with `batchSize`), runs their no-ops together and completes them with one
 * `complete()`: at most `concurrency` jobs in flight. (`work()` does the same but sleeps its
 * polling interval, at least 0.5 s, after every fetch even when jobs are waiting, which would cap
 * it at 20 jobs/s here.)
 */
export class PgBossPeer {
  private constructor(private readonly boss: PgBoss) {}

  static async open(databaseUrl: string): Promise<PgBossPeer> {
    const boss = new PgBoss({ connectionString: databaseUrl, max: 12, schedule: false, supervise: false });
    boss.on("error", (err) => console.error("pg-boss:", err.message));
    await boss.start();
    await boss.createQueue(TASK);
    return new PgBossPeer(boss);
  }

  async insert(items: BenchItem[]): Promise<void> {
    await this.boss.insert(
      items.map((it) => ({ name: TASK, data: { ...it.payload, tags: it.tags }, singletonKey: it.key })),
    );
  }

  /** Executes `count` queued jobs, at most `concurrency` at a time; resolves when all are completed. */
  async drain(count: number, concurrency: number): Promise<void> {
    let done = 0;
    while (done < count) {
      const jobs = await this.boss.fetch(TASK, { batchSize: Math.min(concurrency, count - done) });
      if (jobs.length === 0) {
        await new Promise((r) => setTimeout(r, 5));
        continue;
      }
      await Promise.all(jobs.map((job) => noop(job.data)));
      await this.boss.complete(
        TASK,
        jobs.map((job) => job.id),
      );
      done += jobs.length;
    }
  }

  /** Removes every job left in the queue, so a drain starts from an empty queue. */
  async reset() {
    await this.boss.purgeQueue(TASK);
  }

  close() {
    return this.boss.stop({ graceful: false, wait: true });
  }
}

async function noop(_data: unknown) {}
