import { describe, expect, it } from "vitest";
import { retryDelayMs, retryOrFail } from "../../server/lifecycle/fail.js";
import { POLICY, useBareDb } from "./bare-db.js";

const t = useBareDb();

const error = JSON.stringify({ name: "Error", message: "boom" });

describe("fail: retry-or-fail, one for worker reports and lease reclaim", () => {
  it("retries while attempts remain, with a backoff inside the jitter band", async () => {
    const run = await t.run({ status: "EXECUTING", attempt: 1, lease_owner: "w1", claim_id: "c1" });
    const now = new Date();
    const [changed] = await t.tx((trx) =>
      retryOrFail(trx, [{ id: run.id, attempt: 1, max_attempts: null, error, retry: true }], POLICY, now),
    );
    expect(changed).toMatchObject({ id: run.id, status: "REATTEMPTING" });
    const row = await t.runRow(run.id);
    expect(row).toMatchObject({ status: "REATTEMPTING", lease_owner: null, claim_id: null, finished_at: null });
    expect(row.error).toEqual({ name: "Error", message: "boom" });
    const delay = row.retry_at!.getTime() - now.getTime();
    expect(delay).toBeGreaterThanOrEqual(800);
    expect(delay).toBeLessThanOrEqual(1200);
    expect((await t.events({ runId: run.id })).map((e) => e.data.status)).toEqual(["REATTEMPTING"]);
  });

  it("fails a run whose attempts are used up, or that must not be retried", async () => {
    const used = await t.run({ status: "EXECUTING", attempt: 2, max_attempts: 2 });
    const refused = await t.run({ status: "EXECUTING", attempt: 1 });
    const changed = await t.tx((trx) =>
      retryOrFail(
        trx,
        [
          { id: used.id, attempt: 2, max_attempts: 2, error, retry: true },
          { id: refused.id, attempt: 1, max_attempts: null, error, retry: false },
        ],
        POLICY,
        new Date(),
      ),
    );
    expect(changed.map((r) => r.status)).toEqual(["FAILED", "FAILED"]);
    for (const id of [used.id, refused.id]) {
      const row = await t.runRow(id);
      expect(row.retry_at).toBeNull();
      expect(row.finished_at).not.toBeNull();
    }
  });

  it("backs off exponentially up to the cap", () => {
    for (let i = 0; i < 20; i++) {
      expect(retryDelayMs(3, 1000, 60_000)).toBeGreaterThanOrEqual(3200);
      expect(retryDelayMs(3, 1000, 60_000)).toBeLessThanOrEqual(4800);
      expect(retryDelayMs(30, 1000, 60_000)).toBeLessThanOrEqual(72_000);
    }
  });
});
