import { describe, expect, it } from "vitest";
import { recordReport } from "../../server/lifecycle/report.js";
import { POLICY, useBareDb } from "./bare-db.js";

const t = useBareDb();

describe("report: a worker's completions and failures in one transaction", () => {
  it("finishes both kinds and completes their batch once both count", async () => {
    const batch = await t.batch({
      run_count: 2,
      successful_run_count: 2,
      sealed: true,
      processing_completed_at: new Date(),
    });
    const ok = await t.run({
      status: "EXECUTING",
      attempt: 1,
      lease_owner: "w1",
      claim_id: "c-ok",
      batch_id: batch.id,
    });
    const bad = await t.run({
      status: "EXECUTING",
      attempt: 1,
      max_attempts: 1,
      lease_owner: "w1",
      claim_id: "c-bad",
      batch_id: batch.id,
    });
    await t.item(batch.id, 0, ok.id);
    await t.item(batch.id, 1, bad.id);
    const changed = await t.tx((trx) =>
      recordReport(
        trx,
        t.environmentId,
        "w1",
        {
          completed: [{ runId: ok.id, claimId: "c-ok", output: null }],
          failed: [{ runId: bad.id, claimId: "c-bad", error: { message: "no" } }],
        },
        POLICY,
        new Date(),
      ),
    );
    expect(changed.map((r) => [r.id, r.status])).toEqual([
      [bad.id, "FAILED"],
      [ok.id, "COMPLETED"],
    ]);
    expect(await t.batchRow(batch.id)).toMatchObject({ status: "COMPLETED", finished_item_count: 2 });
    expect((await t.events({ batchId: batch.id })).filter((e) => e.type === "batch.status")).toEqual([
      { type: "batch.status", data: { status: "COMPLETED" } },
    ]);
  });

  it("ignores failures of claims the worker does not hold", async () => {
    const run = await t.run({ status: "EXECUTING", attempt: 1, lease_owner: "w1", claim_id: "mine" });
    const changed = await t.tx((trx) =>
      recordReport(
        trx,
        t.environmentId,
        "w1",
        { completed: [], failed: [{ runId: run.id, claimId: "earlier", error: {} }] },
        POLICY,
        new Date(),
      ),
    );
    expect(changed).toEqual([]);
    expect((await t.runRow(run.id)).status).toBe("EXECUTING");
  });
});
