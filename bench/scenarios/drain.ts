import type { BenchConfig } from "../config.js";
import { median, timed } from "../stats.js";
import { fmtRate, fmtRatio, markdownTable } from "../table.js";
import { type BenchItem, benchItem, runTag } from "../workload.js";

/** A queue system that can be loaded with jobs and then drained by no-op workers. */
export interface Drainable {
  /** Empties the queue (jobs left by scenario 1 would otherwise be drained first). */
  reset(): Promise<void>;
  insert(items: BenchItem[]): Promise<void>;
  drain(count: number, concurrency: number): Promise<void>;
}

/**
 * Scenario 3: `jobs` queued no-op jobs executed with total concurrency 10; the clock runs from
 * starting the workers until the last job is completed. Loading the queue is not timed.
 */
export async function drainScenario(cfg: BenchConfig, systems: [string, Drainable][], note: string): Promise<string> {
  const { jobs, concurrency, warmupJobs, reps } = cfg.drain;
  const rates = new Map<string, number[]>();
  for (const [name, system] of systems) {
    const runs: number[] = [];
    for (let rep = -1; rep < reps; rep++) {
      const count = rep < 0 ? warmupJobs : jobs;
      if (count === 0) continue;
      const tag = runTag("s3", rep);
      await system.reset();
      for (let start = 0; start < count; start += 1000) {
        await system.insert(Array.from({ length: Math.min(1000, count - start) }, (_, i) => benchItem(tag, start + i)));
      }
      const { ms } = await timed(() => system.drain(count, concurrency));
      if (rep >= 0) runs.push((count / ms) * 1000);
    }
    rates.set(name, runs);
  }
  const graphileRate = median(rates.get("graphile-worker")!);
  const rows = systems.map(([name]) => {
    const r = median(rates.get(name)!);
    return [name, fmtRate(r), fmtRatio(r / graphileRate)];
  });
  return [
    `### 3. Drain: ${jobs.toLocaleString("en-US")} queued no-op jobs, total concurrency ${concurrency}`,
    "",
    `Median over ${reps} run(s) after a warm-up drain of ${warmupJobs.toLocaleString("en-US")}. ${note}`,
    "",
    markdownTable(["system", "jobs/s", "÷ graphile-worker"], rows),
  ].join("\n");
}
