import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pruneEvents } from "../server/events/retention.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";

let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo({ SALVO_EVENT_RETENTION_HOURS: "24" });
});
afterAll(() => salvo?.close());

describe("event retention", () => {
  it("prunes events older than SALVO_EVENT_RETENTION_HOURS and keeps the rest", async () => {
    const environmentId = salvo.env.environmentId;
    const event = (hoursAgo: number, type: string) => ({
      environment_id: environmentId,
      batch_id: null,
      run_id: null,
      type,
      data: JSON.stringify({}),
      created_at: new Date(Date.now() - hoursAgo * 3_600_000),
    });
    await salvo.deps.db
      .insertInto("events")
      .values([event(25, "old"), event(23, "recent")])
      .execute();
    expect(await pruneEvents(salvo.deps)).toBeGreaterThanOrEqual(1);
    const left = await salvo.deps.db
      .selectFrom("events")
      .select("type")
      .where("environment_id", "=", environmentId)
      .execute();
    expect(left.map((e) => e.type)).toEqual(["recent"]);
  });
});
