import { describe, expect, it } from "vitest";
import { promoteDueRuns, reclaimLostRuns } from "../../server/lifecycle/sweeps.js";
import { POLICY, useBareDb } from "./bare-db.js";

const t = useBareDb();

const past = () => new Date(Date.now() - 1000);
const future = () => new Date(Date.now() + 60_000);

describe("sweeps: due runs become QUEUED; runs of a gone worker go through retry-or-fail", () => {
  it("promotes DELAYED runs past their delay and REATTEMPTING runs past their backoff", async () => {
    const delayed = await t.run({ status: "DELAYED", delay_until: past() });
    const waiting = await t.run({ status: "DELAYED", delay_until: future() });
    const retrying = await t.run({ status: "REATTEMPTING", retry_at: past() });
    const promoted = await t.tx((trx) => promoteDueRuns(trx, new Date()));
    expect(promoted.map((r) => r.id).sort()).toEqual([delayed.id, retrying.id].sort());
    expect((await t.runRow(waiting.id)).status).toBe("DELAYED");
    expect((await t.events({ runId: delayed.id })).map((e) => e.data.status)).toEqual(["QUEUED"]);
  });

  it("reclaims an expired lease and a disconnected worker's run, each with its own error", async () => {
    await t.db
      .insertInto("workers")
      .values([
        {
          id: "gone",
          environment_id: t.environmentId,
          tasks: ["task"],
          disconnected_at: new Date(Date.now() - 60_000),
        },
        { id: "live", environment_id: t.environmentId, tasks: ["task"] },
      ])
      .execute();
    const expired = await t.run({ status: "EXECUTING", attempt: 1, lease_owner: "live", lease_expires_at: past() });
    const disconnected = await t.run({
      status: "EXECUTING",
      attempt: 1,
      lease_owner: "gone",
      lease_expires_at: future(),
    });
    const lastTry = await t.run({ status: "EXECUTING", attempt: 3, lease_owner: "live", lease_expires_at: past() });
    const healthy = await t.run({ status: "EXECUTING", attempt: 1, lease_owner: "live", lease_expires_at: future() });
    const reclaimed = await t.tx((trx) => reclaimLostRuns({ ...POLICY, disconnectGraceMs: 5_000 })(trx, new Date()));
    expect(reclaimed.map((r) => r.id).sort()).toEqual([expired.id, disconnected.id, lastTry.id].sort());
    expect(await t.runRow(expired.id)).toMatchObject({ status: "REATTEMPTING", error: { name: "LeaseExpired" } });
    expect(await t.runRow(disconnected.id)).toMatchObject({
      status: "REATTEMPTING",
      error: { name: "WorkerDisconnected" },
    });
    expect((await t.runRow(lastTry.id)).status).toBe("FAILED");
    expect((await t.runRow(healthy.id)).status).toBe("EXECUTING");
  });
});
