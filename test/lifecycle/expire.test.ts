import { describe, expect, it } from "vitest";
import { expireRuns } from "../../server/lifecycle/expire.js";
import { useBareDb } from "./bare-db.js";

const t = useBareDb();

describe("expire: a run not started by its TTL -> EXPIRED", () => {
  it("expires QUEUED and DELAYED runs past expires_at, and counts them towards their batch", async () => {
    const batch = await t.batch({
      run_count: 1,
      successful_run_count: 1,
      sealed: true,
      processing_completed_at: new Date(),
    });
    const queued = await t.run({ expires_at: new Date(Date.now() - 1), batch_id: batch.id });
    await t.item(batch.id, 0, queued.id);
    const delayed = await t.run({ status: "DELAYED", expires_at: new Date(Date.now() - 1) });
    const executing = await t.run({ status: "EXECUTING", expires_at: new Date(Date.now() - 1) });
    const later = await t.run({ expires_at: new Date(Date.now() + 60_000) });
    const expired = await t.tx((trx) => expireRuns(trx, new Date()));
    expect(expired.map((r) => r.id).sort()).toEqual([queued.id, delayed.id].sort());
    const row = await t.runRow(queued.id);
    expect(row.status).toBe("EXPIRED");
    expect(row.expired_at).not.toBeNull();
    expect((await t.runRow(executing.id)).status).toBe("EXECUTING");
    expect((await t.runRow(later.id)).status).toBe("QUEUED");
    expect((await t.batchRow(batch.id)).status).toBe("COMPLETED");
  });
});
