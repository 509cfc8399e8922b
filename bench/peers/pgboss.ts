import PgBoss from "pg-boss";
import { type BenchItem, TASK } from "../workload.js";

/**
 * pg-boss (v10): `insert()` for the batch; for the drain, `concurrency` loops of `fetch()` one
 * job, run the no-op, `complete()` it. (`work()` sleeps its polling interval, at least 0.5 s,
 * after every fetch even when jobs are waiting, which caps it at concurrency/0.5 jobs per second;
 * fetch/complete is how pg-boss is driven for throughput.)
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
    await this.boss.insert(items.map((it) => ({ name: TASK, data: { ...it.payload, tags: it.tags }, singletonKey: it.key })));
  }

  /** Executes `count` queued jobs with `concurrency` loops; resolves when all are completed. */
  async drain(count: number, concurrency: number): Promise<void> {
    let done = 0;
    const loop = async () => {
      while (done < count) {
        const [job] = await this.boss.fetch(TASK, { batchSize: 1 });
        if (!job) {
          await new Promise((r) => setTimeout(r, 5));
          continue;
        }
        await noop(job.data);
        await this.boss.complete(TASK, job.id);
        done++;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, loop));
  }

  close() {
    return this.boss.stop({ graceful: false, wait: true });
  }
}

async function noop(_data: unknown) {}
