import { describe, expect, it } from "vitest";
import { LARGE_BATCH_RUNS, RECOUNT_MS, readBatchProgress } from "../server/events/snapshots.js";
import { useBareDb } from "./lifecycle/bare-db.js";

// Batch progress counts a batch's runs by status. A large batch is counted at most once per
// RECOUNT_MS while it runs (each count is a scan of its runs); a small or final one every time.
const t = useBareDb();

async function batchWithRuns(runCount: number) {
  const batch = await t.batch({ run_count: runCount });
  const runs = [
    await t.run({ batch_id: batch.id, batch_index: 0 }),
    await t.run({ batch_id: batch.id, batch_index: 1 }),
  ];
  for (const [i, run] of runs.entries()) await t.item(batch.id, i, run.id);
  return { batch, runs };
}

const progress = async (batchId: string, now: number) =>
  (await readBatchProgress(t.db, t.environmentId, [batchId], { now })).get(batchId)!;

const complete = (runId: string) =>
  t.db.updateTable("runs").set({ status: "COMPLETED" }).where("id", "=", runId).execute();

describe("batch progress of large batches", () => {
  it("counts a large running batch at most once per RECOUNT_MS, and its row every time", async () => {
    const { batch, runs } = await batchWithRuns(LARGE_BATCH_RUNS);
    const start = 1_000_000;
    expect((await progress(batch.id, start)).runs.byStatus).toEqual({ QUEUED: 2 });
    await complete(runs[0]!.id);
    await t.db.updateTable("batches").set({ sealed: true }).where("id", "=", batch.id).execute();
    const soon = await progress(batch.id, start + RECOUNT_MS - 1);
    expect(soon.runs.byStatus).toEqual({ QUEUED: 2 });
    expect(soon.sealed).toBe(true);
    const later = await progress(batch.id, start + RECOUNT_MS);
    expect(later.runs).toEqual({ total: 2, finished: 1, failed: 0, byStatus: { QUEUED: 1, COMPLETED: 1 } });
  });

  it("counts a final large batch afresh, so its last message is exact", async () => {
    const { batch, runs } = await batchWithRuns(LARGE_BATCH_RUNS);
    const start = 2_000_000;
    await progress(batch.id, start);
    await complete(runs[0]!.id);
    await complete(runs[1]!.id);
    await t.db.updateTable("batches").set({ status: "COMPLETED" }).where("id", "=", batch.id).execute();
    const done = await progress(batch.id, start + 1);
    expect(done.final).toBe(true);
    expect(done.runs.byStatus).toEqual({ COMPLETED: 2 });
  });

  it("counts a batch under LARGE_BATCH_RUNS on every read", async () => {
    const { batch, runs } = await batchWithRuns(LARGE_BATCH_RUNS - 1);
    const start = 3_000_000;
    await progress(batch.id, start);
    await complete(runs[0]!.id);
    expect((await progress(batch.id, start + 1)).runs.byStatus).toEqual({ QUEUED: 1, COMPLETED: 1 });
  });
});
