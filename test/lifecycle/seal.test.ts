import { describe, expect, it } from "vitest";
import { sealBatch } from "../../server/lifecycle/seal.js";
import { useBareDb } from "./bare-db.js";

const t = useBareDb();

const seal = async (batchId: string) => {
  const batch = await t.batchRow(batchId);
  await t.tx((trx) => sealBatch(trx, batch, new Date()));
  return t.batchRow(batchId);
};
const statuses = async (batchId: string) =>
  (await t.events({ batchId })).filter((e) => e.type === "batch.status").map((e) => e.data);

describe("seal: every index present -> PENDING, PARTIAL_FAILED, ABORTED or COMPLETED", () => {
  it("records the counts and stays PENDING while runs are unfinished", async () => {
    const batch = await t.batch({ run_count: 1 });
    await t.item(batch.id, 0, (await t.run({ batch_id: batch.id })).id);
    expect(await seal(batch.id)).toMatchObject({
      status: "PENDING",
      sealed: true,
      successful_run_count: 1,
      failed_run_count: 0,
    });
    expect(await statuses(batch.id)).toEqual([
      { status: "PROCESSING", successfulRunCount: 1, failedRunCount: 0 },
      { status: "PENDING", successfulRunCount: 1, failedRunCount: 0 },
    ]);
  });

  it("is PARTIAL_FAILED with an item error, and COMPLETED at once when its runs are final already", async () => {
    const batch = await t.batch({ run_count: 2, finished_item_count: 1 });
    await t.item(batch.id, 0, (await t.run({ status: "COMPLETED", batch_id: batch.id })).id);
    await t.item(batch.id, 1, null);
    expect(await seal(batch.id)).toMatchObject({ status: "COMPLETED", successful_run_count: 1, failed_run_count: 1 });
    expect((await statuses(batch.id)).map((d) => d.status)).toEqual(["PROCESSING", "PARTIAL_FAILED", "COMPLETED"]);
  });

  it("aborts a batch none of whose items became a run, and queues its waiting parent", async () => {
    const parent = await t.run({ status: "WAITING", attempt: 1 });
    const batch = await t.batch({ run_count: 1, parent_run_id: parent.id, resume_parent_on_completion: true });
    await t.item(batch.id, 0, null);
    const sealed = await seal(batch.id);
    expect(sealed).toMatchObject({ status: "ABORTED", sealed: true, successful_run_count: 0, failed_run_count: 1 });
    expect(sealed.completed_at).not.toBeNull();
    expect(await statuses(batch.id)).toEqual([
      { status: "PROCESSING", successfulRunCount: 0, failedRunCount: 1 },
      { status: "ABORTED", successfulRunCount: 0, failedRunCount: 1 },
    ]);
    expect((await t.runRow(parent.id)).status).toBe("QUEUED");
  });
});
