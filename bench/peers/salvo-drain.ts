import { createWorker } from "../../client/worker.js";
import { createBatch, getBatchStatus, streamItems } from "../salvo-api.js";
import type { SalvoProcess } from "../salvo-server.js";
import { type BenchItem, TASK } from "../workload.js";

/**
 * Salvo's side of the drain: the queued runs are the items of two-phase batches (one per 1,000
 * items loaded); one worker with concurrency 10 (`createWorker` from client/) executes them,
 * and the clock stops when every batch is COMPLETED. Give it a Salvo of its own (a fresh
 * database): runs left by other scenarios would be claimed first.
 */
export class SalvoDrain {
  private pending: string[] = [];

  constructor(private readonly salvo: SalvoProcess) {}

  /** Nothing to empty: every drain runs until its batches are COMPLETED. */
  async reset(): Promise<void> {}

  async insert(items: BenchItem[]): Promise<void> {
    const batchId = await createBatch(this.salvo, items.length);
    const result = await streamItems(this.salvo, batchId, items.length, (i) => items[i]!);
    if (!result.sealed) throw new Error(`drain batch ${batchId} did not seal`);
    this.pending.push(batchId);
  }

  async drain(_count: number, concurrency: number): Promise<void> {
    const batches = this.pending.splice(0);
    const worker = createWorker({
      url: this.salvo.url,
      apiKey: this.salvo.key,
      tasks: { [TASK]: async () => {} },
      concurrency,
      pollWaitMs: 1000,
    });
    try {
      await worker.ready;
      for (const batchId of batches) {
        while ((await getBatchStatus(this.salvo, batchId)) !== "COMPLETED")
          await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await worker.stop({ graceMs: 5000 });
    }
  }
}
