import type { BenchConfig } from "../config.js";
import type { CopyFloor } from "../peers/copy-floor.js";
import { createBatch, streamItems } from "../salvo-api.js";
import type { SalvoProcess } from "../salvo-server.js";
import { median, p95, timed } from "../stats.js";
import { fmtMb, fmtRate, fmtRatio, markdownTable } from "../table.js";
import { benchItem, runTag } from "../workload.js";

/** Starts a fresh Salvo process (so its peak RSS covers only what it is then given). */
export type StartSalvo = (env: Record<string, string>) => Promise<SalvoProcess>;

/**
 * Scenario 2: the two-phase batch, all items in one streamed request. Reports items/s against
 * one COPY of as many rows, and the server's peak RSS; then one run of `bigItems` on a fresh
 * process, whose peak RSS must stay flat.
 */
export async function streamScenario(cfg: BenchConfig, startSalvo: StartSalvo, copy: CopyFloor): Promise<string> {
  const { items: n, warmup, reps, bigItems } = cfg.stream;
  const maxRunCount = String(Math.max(n, bigItems));

  const salvo = await startSalvo({ SALVO_MAX_BATCH_RUN_COUNT: maxRunCount });
  const idleRssKb = salvo.rssKb();
  const salvoMs: number[] = [];
  const copyMs: number[] = [];
  let peakKb = 0;
  try {
    for (let rep = -warmup; rep < reps; rep++) {
      const tag = runTag("s2", rep);
      const batchId = await createBatch(salvo, n);
      const { ms, value } = await timed(() => streamItems(salvo, batchId, n, (i) => benchItem(tag, i)));
      if (value.itemsAccepted !== n || !value.sealed)
        throw new Error(`stream accepted ${value.itemsAccepted} of ${n}, sealed ${value.sealed}`);
      const floor = await timed(() => copy.copy(`${tag}-copy`, n, (i) => benchItem(tag, i)));
      if (rep >= 0) {
        salvoMs.push(ms);
        copyMs.push(floor.ms);
      }
    }
  } finally {
    peakKb = salvo.peakRssKb();
    await salvo.stop();
  }
  const rate = (ms: number) => (n / ms) * 1000;
  const salvoRate = rate(median(salvoMs));
  const copyRate = rate(median(copyMs));
  const rows = [
    [
      "Salvo `/api/v3/batches/{id}/items`",
      fmtRate(salvoRate),
      fmtRate(rate(p95(salvoMs))),
      fmtRatio(salvoRate / copyRate),
      fmtMb(peakKb),
    ],
    ["Postgres `COPY` (floor)", fmtRate(copyRate), fmtRate(rate(p95(copyMs))), "1.00×", "n/a"],
  ];

  let big = "";
  if (bigItems > 0) {
    const fresh = await startSalvo({ SALVO_MAX_BATCH_RUN_COUNT: maxRunCount });
    try {
      const tag = runTag("s2big", 0);
      const batchId = await createBatch(fresh, bigItems);
      const { ms, value } = await timed(() => streamItems(fresh, batchId, bigItems, (i) => benchItem(tag, i)));
      if (value.itemsAccepted !== bigItems)
        throw new Error(`big stream accepted ${value.itemsAccepted} of ${bigItems}`);
      const bigPeak = fresh.peakRssKb();
      big = [
        "",
        markdownTable(
          ["items in one request", "items/s", "peak RSS", `peak RSS vs ${n.toLocaleString("en-US")} items`],
          [
            [n.toLocaleString("en-US"), fmtRate(salvoRate), fmtMb(peakKb), "1.00×"],
            [
              bigItems.toLocaleString("en-US"),
              fmtRate((bigItems / ms) * 1000),
              fmtMb(bigPeak),
              fmtRatio(bigPeak / peakKb),
            ],
          ],
        ),
      ].join("\n");
    } finally {
      await fresh.stop();
    }
  }

  return [
    `### 2. Two-phase stream of ${n.toLocaleString("en-US")} items in one request`,
    "",
    `Items/s from the first byte sent to the answer (median and p95 over ${reps} measured runs after ${warmup} warm-up); ` +
      `the floor is one COPY of as many rows. Peak RSS is the server process's VmHWM (idle: ${fmtMb(idleRssKb)}).`,
    "",
    markdownTable(["system", "median items/s", "p95 items/s", "Salvo ÷ COPY", "server peak RSS"], rows),
    big,
  ].join("\n");
}
