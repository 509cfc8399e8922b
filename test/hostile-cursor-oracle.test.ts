import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSalvoClient, type SalvoClient } from "../client/index.js";
import { encodeCursor } from "../server/pagination.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";

/**
 * A list cursor is looked up in the caller's environment only: a cursor naming another
 * environment's batch or run (or a forged id) answers exactly what an unknown one does, so the
 * answer reveals nothing about other tenants' rows.
 */
let salvo: TestSalvo;
let mine: SalvoClient;
let theirs: SalvoClient;
beforeAll(async () => {
  salvo = await startTestSalvo();
  mine = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
  theirs = createSalvoClient({ url: salvo.url, apiKey: (await salvo.newEnvironment()).secretKey });
});
afterAll(() => salvo?.close());

const cursorFor = (id: string) => encodeCursor({ createdAt: new Date(), id });

describe("cursors of another environment", () => {
  it("batch.list and run.list answer a foreign cursor as they answer an unknown one", async () => {
    // Mine first, theirs after: a cursor at their row would page through all of mine.
    for (let i = 0; i < 3; i++) await mine.batch.trigger.mutate({ items: [{ task: "oracle", payload: i }] });
    const foreign = await theirs.batch.trigger.mutate({ items: [{ task: "oracle", payload: "x" }] });

    const unknownBatches = await mine.batch.list.query({ cursor: cursorFor("batch_doesnotexist000000000") });
    const foreignBatches = await mine.batch.list.query({ cursor: cursorFor(foreign.batchId) });
    expect(foreignBatches).toEqual(unknownBatches);

    const unknownRuns = await mine.run.list.query({ cursor: cursorFor("run_doesnotexist00000000000") });
    const foreignRuns = await mine.run.list.query({ cursor: cursorFor(foreign.runs[0]!) });
    expect(foreignRuns).toEqual(unknownRuns);

    // And an own cursor still pages.
    const first = await mine.batch.list.query({ limit: 1 });
    expect((await mine.batch.list.query({ limit: 1, cursor: first.nextCursor })).items).toHaveLength(1);
  });
});
