import { describe, expect, it } from "vitest";
import { claimRuns } from "../../server/lifecycle/claim.js";
import { useBareDb } from "./bare-db.js";

const t = useBareDb();

const claim = (queueTasks: string[], max: number, now = new Date()) =>
  t.tx((trx) =>
    claimRuns(trx, { environmentId: t.environmentId, workerId: "w1", tasks: queueTasks, max, leaseMs: 30_000, now }),
  );

describe("claim: QUEUED -> EXECUTING under a lease", () => {
  it("claims the oldest queued runs of the tasks asked for, with a lease, a claim id and an event", async () => {
    await t.db
      .insertInto("queues")
      .values({ environment_id: t.environmentId, name: "q1", concurrency_limit: null })
      .execute();
    const older = await t.run({ task_identifier: "claim-a", queue: "q1", created_at: new Date(Date.now() - 1000) });
    const newer = await t.run({ task_identifier: "claim-a", queue: "q1" });
    await t.run({ task_identifier: "claim-other", queue: "q1" });
    const now = new Date();
    const claimed = await claim(["claim-a"], 1, now);
    expect(claimed.map((r) => r.id)).toEqual([older.id]);
    const row = await t.runRow(older.id);
    expect(row).toMatchObject({ status: "EXECUTING", attempt: 1, lease_owner: "w1", claim_id: claimed[0]!.claim_id });
    expect(row.lease_expires_at!.getTime()).toBe(now.getTime() + 30_000);
    expect(await t.events({ runId: older.id })).toEqual([
      { type: "run.status", data: { status: "EXECUTING", taskIdentifier: "claim-a", attempt: 1 } },
    ]);
    expect((await t.runRow(newer.id)).status).toBe("QUEUED");
  });

  it("takes no more of a limited queue than its free slots", async () => {
    await t.db
      .insertInto("queues")
      .values({ environment_id: t.environmentId, name: "q2", concurrency_limit: 2 })
      .execute();
    await t.run({ task_identifier: "claim-b", queue: "q2", status: "EXECUTING", lease_owner: "w0" });
    for (let i = 0; i < 3; i++) await t.run({ task_identifier: "claim-b", queue: "q2" });
    expect(await claim(["claim-b"], 10)).toHaveLength(1);
    expect(await claim(["claim-b"], 10)).toHaveLength(0);
  });

  it("skips a run whose TTL has passed", async () => {
    await t.db
      .insertInto("queues")
      .values({ environment_id: t.environmentId, name: "q3", concurrency_limit: null })
      .execute();
    await t.run({ task_identifier: "claim-c", queue: "q3", expires_at: new Date(Date.now() - 1) });
    expect(await claim(["claim-c"], 5)).toEqual([]);
  });

  it("serves several tasks of one queue oldest first across them, once each, past another task's backlog", async () => {
    for (const [name, limit] of [
      ["q4", null],
      ["q5", 10],
    ] as const) {
      await t.db
        .insertInto("queues")
        .values({ environment_id: t.environmentId, name, concurrency_limit: limit })
        .execute();
      const start = Date.now() - 10_000;
      const at = (ms: number) => new Date(start + ms);
      // A backlog of a task nobody asks for, older than everything else in the queue.
      for (let i = 0; i < 5; i++) await t.run({ task_identifier: `${name}-other`, queue: name, created_at: at(i) });
      const a1 = await t.run({ task_identifier: `${name}-a`, queue: name, created_at: at(100) });
      const b1 = await t.run({ task_identifier: `${name}-b`, queue: name, created_at: at(200) });
      const a2 = await t.run({ task_identifier: `${name}-a`, queue: name, created_at: at(300) });
      await t.run({ task_identifier: `${name}-b`, queue: name, created_at: at(400) });
      // The same task named twice is served once.
      const claimed = await claim([`${name}-a`, `${name}-b`, `${name}-a`], 3);
      expect(claimed.map((r) => r.id)).toEqual([a1.id, b1.id, a2.id]);
      const other = await t.db
        .selectFrom("runs")
        .select("status")
        .where("task_identifier", "=", `${name}-other`)
        .execute();
      expect(other.map((r) => r.status)).toEqual(Array(5).fill("QUEUED"));
    }
  });
});
