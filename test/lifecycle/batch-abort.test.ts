import { describe, expect, it } from "vitest";
import { abortBatches } from "../../server/lifecycle/batch-abort.js";
import { useBareDb } from "./bare-db.js";

const t = useBareDb();

describe("batch abort: -> ABORTED, the one place a batch aborts", () => {
  it("stores the counts, writes the event with its reason and queues the waiting parent", async () => {
    const parent = await t.run({ status: "WAITING", attempt: 1 });
    const batch = await t.batch({ run_count: 3, parent_run_id: parent.id, resume_parent_on_completion: true });
    await t.tx((trx) =>
      abortBatches(trx, [{ ...batch, successful: 1, failed: 2, event: { reason: "seal_timeout" } }], new Date()),
    );
    const row = await t.batchRow(batch.id);
    expect(row).toMatchObject({ status: "ABORTED", successful_run_count: 1, failed_run_count: 2 });
    expect(row.completed_at).not.toBeNull();
    expect(await t.events({ batchId: batch.id })).toEqual([
      { type: "batch.status", data: { status: "ABORTED", reason: "seal_timeout" } },
    ]);
    expect((await t.runRow(parent.id)).status).toBe("QUEUED");
  });
});
