import { describe, expect, it } from "vitest";
import { countFinishedRuns } from "../../server/lifecycle/batch-completion.js";
import type { TransitionedRun } from "../../server/lifecycle/record.js";
import { useBareDb } from "./bare-db.js";

const t = useBareDb();

const processed = (runCount: number, fields = {}) =>
  t.batch({
    run_count: runCount,
    successful_run_count: runCount,
    sealed: true,
    processing_completed_at: new Date(),
    ...fields,
  });
const finish = async (runId: string, status = "COMPLETED") => {
  await t.db.updateTable("runs").set({ status }).where("id", "=", runId).execute();
  const row = await t.runRow(runId);
  return { ...row, status } as TransitionedRun;
};

describe("batch completion: PENDING / PARTIAL_FAILED -> COMPLETED when every run is final", () => {
  it("counts a run for the batch that created it and for a batch that references it", async () => {
    const own = await processed(2);
    const referencing = await processed(1);
    const a = await t.run({ batch_id: own.id });
    const b = await t.run({ batch_id: own.id });
    await t.item(own.id, 0, a.id);
    await t.item(own.id, 1, b.id);
    await t.item(referencing.id, 0, a.id, true);
    const finishedA = await finish(a.id);
    await t.tx((trx) => countFinishedRuns(trx, [finishedA], new Date()));
    expect(await t.batchRow(own.id)).toMatchObject({ status: "PENDING", finished_item_count: 1 });
    expect(await t.batchRow(referencing.id)).toMatchObject({ status: "COMPLETED", finished_item_count: 1 });
    const failedB = await finish(b.id, "FAILED");
    await t.tx((trx) => countFinishedRuns(trx, [failedB], new Date()));
    expect(await t.batchRow(own.id)).toMatchObject({ status: "COMPLETED", finished_item_count: 2 });
  });

  it("counts nothing for a run that is not final", async () => {
    const batch = await processed(1);
    const run = await t.run({ batch_id: batch.id });
    await t.item(batch.id, 0, run.id);
    const retrying = await finish(run.id, "REATTEMPTING");
    await t.tx((trx) => countFinishedRuns(trx, [retrying], new Date()));
    expect(await t.batchRow(batch.id)).toMatchObject({ status: "PENDING", finished_item_count: 0 });
  });

  it("queues the waiting parent of the batch it completes", async () => {
    const parent = await t.run({ status: "WAITING", attempt: 1 });
    const batch = await processed(1, { parent_run_id: parent.id, resume_parent_on_completion: true });
    const child = await t.run({ batch_id: batch.id });
    await t.item(batch.id, 0, child.id);
    const finishedChild = await finish(child.id);
    await t.tx((trx) => countFinishedRuns(trx, [finishedChild], new Date()));
    expect((await t.batchRow(batch.id)).status).toBe("COMPLETED");
    expect(await t.runRow(parent.id)).toMatchObject({ status: "QUEUED", attempt: 0 });
  });
});
