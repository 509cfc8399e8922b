import { describe, expect, it } from "vitest";
import { cancelRuns } from "../../server/lifecycle/cancel.js";
import { useBareDb } from "./bare-db.js";

const t = useBareDb();

describe("cancel: any unfinished run -> CANCELED", () => {
  it("cancels unfinished runs, leaves finished ones, and counts them towards their batch", async () => {
    const batch = await t.batch({
      run_count: 3,
      successful_run_count: 3,
      sealed: true,
      processing_completed_at: new Date(),
    });
    const queued = await t.run({ batch_id: batch.id });
    const executing = await t.run({ status: "EXECUTING", lease_owner: "w1", claim_id: "c", batch_id: batch.id });
    const done = await t.run({ status: "COMPLETED", batch_id: batch.id });
    for (const [i, run] of [queued, executing, done].entries()) await t.item(batch.id, i, run.id);
    await t.db.updateTable("batches").set({ finished_item_count: 1 }).where("id", "=", batch.id).execute();
    const canceled = await t.tx((trx) =>
      cancelRuns(trx, t.environmentId, [queued.id, executing.id, done.id], new Date()),
    );
    expect(canceled.map((r) => r.id).sort()).toEqual([queued.id, executing.id].sort());
    expect(await t.runRow(executing.id)).toMatchObject({ status: "CANCELED", lease_owner: null, claim_id: null });
    expect((await t.runRow(done.id)).status).toBe("COMPLETED");
    expect(await t.batchRow(batch.id)).toMatchObject({ status: "COMPLETED", finished_item_count: 3 });
  });

  it("touches no run of another environment", async () => {
    const other = await t.db
      .insertInto("environments")
      .values({ id: `env_other_${process.pid}`, project: "lifecycle", type: "dev" })
      .returning("id")
      .executeTakeFirstOrThrow();
    const foreign = await t.run({ environment_id: other.id });
    expect(await t.tx((trx) => cancelRuns(trx, t.environmentId, [foreign.id], new Date()))).toEqual([]);
    expect((await t.runRow(foreign.id)).status).toBe("QUEUED");
  });
});
