import { describe, expect, it } from "vitest";
import { parkParent, parkUntilDone, resumeParent } from "../../server/lifecycle/parent.js";
import { useBareDb } from "./bare-db.js";

const t = useBareDb();

describe("parent: park (EXECUTING -> WAITING) and resume (WAITING -> QUEUED)", () => {
  it("parks an executing parent off its lease, then resumes it without counting an attempt", async () => {
    const parent = await t.run({ status: "EXECUTING", attempt: 2, lease_owner: "w1", claim_id: "c" });
    expect(await t.tx((trx) => parkParent(trx, t.environmentId, parent.id, "batch_x", new Date()))).toBe(true);
    expect(await t.runRow(parent.id)).toMatchObject({ status: "WAITING", lease_owner: null, claim_id: null });
    expect(await t.tx((trx) => resumeParent(trx, t.environmentId, parent.id, new Date()))).toBe(true);
    expect(await t.runRow(parent.id)).toMatchObject({ status: "QUEUED", attempt: 1 });
    expect((await t.events({ runId: parent.id })).map((e) => e.data)).toEqual([
      { status: "WAITING", taskIdentifier: "task", attempt: 2, waitingFor: "batch_x" },
      { status: "QUEUED", taskIdentifier: "task", attempt: 1, resumed: true },
    ]);
  });

  it("moves nothing from the wrong state or of another environment", async () => {
    const queued = await t.run();
    const executing = await t.run({ status: "EXECUTING" });
    expect(await t.tx((trx) => parkParent(trx, t.environmentId, queued.id, "b", new Date()))).toBe(false);
    expect(await t.tx((trx) => resumeParent(trx, t.environmentId, executing.id, new Date()))).toBe(false);
    expect(await t.tx((trx) => parkParent(trx, "env_none", executing.id, "b", new Date()))).toBe(false);
    expect(await t.events({ runId: executing.id })).toEqual([]);
  });

  it("parks a parent asking again only while its batch is unfinished", async () => {
    const running = await t.batch();
    const completed = await t.batch({ status: "COMPLETED" });
    const first = await t.run({ status: "EXECUTING" });
    const second = await t.run({ status: "EXECUTING" });
    await parkUntilDone(t.db, t.environmentId, first.id, running.id);
    await parkUntilDone(t.db, t.environmentId, second.id, completed.id);
    expect((await t.runRow(first.id)).status).toBe("WAITING");
    expect((await t.runRow(second.id)).status).toBe("EXECUTING");
  });
});
