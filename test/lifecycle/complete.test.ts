import { describe, expect, it } from "vitest";
import { completeRuns } from "../../server/lifecycle/complete.js";
import { useBareDb } from "./bare-db.js";

const t = useBareDb();

const executing = () => t.run({ status: "EXECUTING", attempt: 1, lease_owner: "w1", claim_id: crypto.randomUUID() });

describe("complete: EXECUTING -> COMPLETED, by the claim holding the lease", () => {
  it("stores the output, ends the lease and writes the event", async () => {
    const run = await executing();
    const done = await t.tx((trx) =>
      completeRuns(
        trx,
        t.environmentId,
        "w1",
        [{ runId: run.id, claimId: run.claim_id!, output: '{"json":1}' }],
        new Date(),
      ),
    );
    expect(done.map((r) => [r.id, r.status])).toEqual([[run.id, "COMPLETED"]]);
    expect(await t.runRow(run.id)).toMatchObject({
      status: "COMPLETED",
      output: '{"json":1}',
      output_type: "application/super+json",
      lease_owner: null,
      claim_id: null,
    });
    expect((await t.events({ runId: run.id })).map((e) => e.data.status)).toEqual(["COMPLETED"]);
  });

  it("refuses another worker, another claim, and a run no longer executing", async () => {
    const run = await executing();
    const canceled = await t.run({ status: "CANCELED" });
    const done = await t.tx(async (trx) => [
      ...(await completeRuns(trx, t.environmentId, "w2", [{ runId: run.id, output: null }], new Date())),
      ...(await completeRuns(
        trx,
        t.environmentId,
        "w1",
        [{ runId: run.id, claimId: "stale", output: null }],
        new Date(),
      )),
      ...(await completeRuns(trx, t.environmentId, "w1", [{ runId: canceled.id, output: null }], new Date())),
    ]);
    expect(done).toEqual([]);
    expect((await t.runRow(run.id)).status).toBe("EXECUTING");
    expect(await t.events({ runId: run.id })).toEqual([]);
  });
});
