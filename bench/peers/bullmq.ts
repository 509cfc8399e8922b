import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";
import { type BenchItem, TASK } from "../workload.js";

/** Every key this bench creates in the shared Redis starts with this prefix. */
const PREFIX = "salvobench";

/** BullMQ: `addBulk()` for the batch; a `Worker` with `concurrency` to drain. */
export class BullPeer {
  private constructor(
    private readonly redisUrl: string,
    private readonly queue: Queue,
  ) {}

  static async open(redisUrl: string): Promise<BullPeer> {
    const queue = new Queue(TASK, { connection: new Redis(redisUrl, { maxRetriesPerRequest: null }), prefix: PREFIX });
    await queue.obliterate({ force: true });
    return new BullPeer(redisUrl, queue);
  }

  async insert(items: BenchItem[]): Promise<void> {
    await this.queue.addBulk(
      items.map((it) => ({
        name: TASK,
        data: { ...it.payload, tags: it.tags },
        opts: { jobId: it.key, removeOnComplete: true },
      })),
    );
  }

  async drain(count: number, concurrency: number): Promise<void> {
    let done = 0;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const worker = new Worker(TASK, async () => {}, {
      connection: new Redis(this.redisUrl, { maxRetriesPerRequest: null }),
      prefix: PREFIX,
      concurrency,
      autorun: false,
    });
    worker.on("completed", () => {
      if (++done === count) finish();
    });
    void worker.run();
    await finished;
    await worker.close();
  }

  /** Removes every job left in the queue, so a drain starts from an empty queue. */
  async reset() {
    await this.queue.obliterate({ force: true });
  }

  async close() {
    await this.queue.obliterate({ force: true });
    await this.queue.close();
  }
}
