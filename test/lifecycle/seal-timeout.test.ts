import { describe, expect, it } from "vitest";
import { InProcessBus } from "../../server/adapters/bus.js";
import { abortUnsealedBatches } from "../../server/lifecycle/seal-timeout.js";
import { useBareDb } from "./bare-db.js";

const t = useBareDb();

describe("seal timeout: unsealed PENDING past the timeout -> ABORTED", () => {
  it("aborts a late unsealed batch, leaving a recent one and a sealed one", async () => {
    const bus = new InProcessBus();
    const woken: string[] = [];
    await bus.subscribe(`salvo:events:${t.environmentId}`, () => woken.push("wake"));
    const old = new Date(Date.now() - 60_000);
    const late = await t.batch({ run_count: 3, enqueued_count: 1, created_at: old });
    await t.item(late.id, 0, (await t.run({ batch_id: late.id })).id);
    const recent = await t.batch({ run_count: 3 });
    const sealed = await t.batch({ run_count: 1, sealed: true, created_at: old });
    const aborted = await abortUnsealedBatches({ db: t.db, bus, config: { limits: { batchSealTimeoutMs: 30_000 } } });
    expect(aborted).toBe(1);
    expect(await t.batchRow(late.id)).toMatchObject({
      status: "ABORTED",
      successful_run_count: 1,
      failed_run_count: 2,
    });
    for (const id of [recent.id, sealed.id]) expect((await t.batchRow(id)).status).toBe("PENDING");
    expect(await t.events({ batchId: late.id })).toEqual([
      { type: "batch.status", data: { status: "ABORTED", reason: "seal_timeout", enqueuedCount: 1, expectedCount: 3 } },
    ]);
    expect(woken).toEqual(["wake"]);
  });
});
