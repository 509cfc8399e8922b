import { describe, expect, it } from "vitest";
import { releaseClaims } from "../../server/lifecycle/release.js";
import { useBareDb } from "./bare-db.js";

const t = useBareDb();

describe("release: EXECUTING -> QUEUED, the attempt not counted", () => {
  it("gives back the claims the worker holds, and only those", async () => {
    const held = await t.run({ status: "EXECUTING", attempt: 2, lease_owner: "w1", claim_id: "c1" });
    const other = await t.run({ status: "EXECUTING", attempt: 1, lease_owner: "w2", claim_id: "c2" });
    const released = await t.tx((trx) =>
      releaseClaims(trx, t.environmentId, "w1", [{ runId: held.id, claimId: "c1" }, { runId: other.id }], new Date()),
    );
    expect(released.map((r) => r.id)).toEqual([held.id]);
    expect(await t.runRow(held.id)).toMatchObject({ status: "QUEUED", attempt: 1, lease_owner: null, claim_id: null });
    expect((await t.runRow(other.id)).status).toBe("EXECUTING");
    expect(await t.events({ runId: held.id })).toEqual([
      { type: "run.status", data: { status: "QUEUED", taskIdentifier: "task", attempt: 1 } },
    ]);
  });
});
