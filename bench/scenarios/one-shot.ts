import type { BenchConfig } from "../config.js";
import type { BullPeer } from "../peers/bullmq.js";
import type { CopyFloor } from "../peers/copy-floor.js";
import type { GraphilePeer } from "../peers/graphile.js";
import type { PgBossPeer } from "../peers/pgboss.js";
import { triggerBatch } from "../salvo-api.js";
import type { SalvoProcess } from "../salvo-server.js";
import { median, p95, timed } from "../stats.js";
import { fmtMs, fmtRatio, markdownTable } from "../table.js";
import { benchItem, runTag } from "../workload.js";

export interface Systems {
  salvo: SalvoProcess;
  pgBoss: PgBossPeer;
  graphile: GraphilePeer;
  bull: BullPeer;
  copy: CopyFloor;
}

/**
 * Scenario 1: 1,000 items in one call to each system. The systems take turns within every
 * repetition, so a slow moment of the machine hits all of them alike.
 */
export async function oneShotScenario(cfg: BenchConfig, s: Systems): Promise<string> {
  const n = cfg.oneShot.items;
  const contenders: [string, (tag: string) => Promise<void>][] = [
    ["Salvo `POST /api/v1/tasks/batch`", async (tag) => void (await triggerBatch(s.salvo, items(tag, n)))],
    ["pg-boss `insert()`", (tag) => s.pgBoss.insert(items(tag, n))],
    ["graphile-worker `addJobs()`", (tag) => s.graphile.insert(items(tag, n))],
    ["BullMQ `addBulk()`", (tag) => s.bull.insert(items(tag, n))],
    ["Postgres `COPY` (floor)", (tag) => s.copy.copy(tag, n, (i) => benchItem(tag, i))],
  ];
  const samples = new Map<string, number[]>(contenders.map(([name]) => [name, []]));
  for (let rep = -cfg.oneShot.warmup; rep < cfg.oneShot.reps; rep++) {
    for (const [name, fn] of contenders) {
      const { ms } = await timed(() => fn(runTag(`s1-${name.length}`, rep)));
      if (rep >= 0) samples.get(name)!.push(ms);
    }
  }
  const salvoMedian = median(samples.get(contenders[0]![0])!);
  const rows = contenders.map(([name]) => {
    const ms = samples.get(name)!;
    return [name, fmtMs(median(ms)), fmtMs(p95(ms)), fmtRatio(salvoMedian / median(ms))];
  });
  return [
    `### 1. One-shot batch of ${n.toLocaleString("en-US")} items`,
    "",
    `~100-byte JSON payload, 2 tags and a unique key per item; ${cfg.oneShot.reps} measured repetitions after ${cfg.oneShot.warmup} warm-up.`,
    "",
    markdownTable(["system", "median ms", "p95 ms", "Salvo ÷ this (median)"], rows),
  ].join("\n");
}

function items(tag: string, n: number) {
  return Array.from({ length: n }, (_, i) => benchItem(tag, i));
}
