import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSalvoClient } from "../client/index.js";
import { abortUnsealedBatches } from "../server/lifecycle/seal-timeout.js";
import { errorBody, ndjson, startTestSalvo, type TestSalvo } from "./support/salvo.js";
import { waitFor } from "./support/wait.js";

let salvo: TestSalvo;
let client: ReturnType<typeof createSalvoClient>;
beforeAll(async () => {
  // Long enough that a loaded CI machine sends the first test's items before the batch expires,
  // short enough that the expiries below come within their waits.
  salvo = await startTestSalvo({ SALVO_BATCH_SEAL_TIMEOUT_MS: "2000" });
  client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
});
afterAll(() => salvo?.close());

const untilStatus = (batchId: string, status: string) =>
  waitFor(
    async () => ((await client.batch.get.query({ batchId })).status === status ? true : undefined),
    10_000,
    `batch ${batchId} ${status}`,
  );

describe("unsealed batch expiry", () => {
  it("aborts a two-phase batch left unsealed past the timeout; sealed batches are untouched", async () => {
    const open = await client.batch.create.mutate({ runCount: 3 });
    const done = await client.batch.create.mutate({ runCount: 1 });
    let res = await salvo.api(`/api/v3/batches/${open.id}/items`, {
      method: "POST",
      headers: { "content-type": "application/x-ndjson" },
      body: ndjson([{ index: 0, task: "t", payload: 1 }]),
    });
    expect(res.status).toBe(200);
    await client.batch.appendItems.mutate({ batchId: done.id, items: [{ index: 0, task: "t", payload: 1 }] });

    await untilStatus(open.id, "ABORTED");
    const rest = (await (await salvo.api(`/api/v1/batches/${open.id}`)).json()) as Record<string, unknown>;
    expect(rest).toMatchObject({ status: "ABORTED", runCount: 3, successfulRunCount: 1, failedRunCount: 2 });
    expect((await client.batch.get.query({ batchId: done.id })).status).not.toBe("ABORTED");

    // Items arriving after the abort are refused, and nothing changes.
    res = await salvo.api(`/api/v3/batches/${open.id}/items`, {
      method: "POST",
      headers: { "content-type": "application/x-ndjson" },
      body: ndjson([{ index: 1, task: "t" }]),
    });
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual(errorBody(`Batch ${open.id} is not in PENDING status (current: ABORTED)`));
    const items = await salvo.deps.db
      .selectFrom("batch_items")
      .select("batch_index")
      .where("batch_id", "=", open.id)
      .execute();
    expect(items.map((i) => i.batch_index)).toEqual([0]);
  });

  it("queues a parent that waits on the expired batch again", async () => {
    const { id: parentId } = await client.task.trigger.mutate({ task: "parent", payload: {} });
    await client.worker.register.mutate({ workerId: "w-seal", tasks: ["parent"] });
    const claimed = await client.worker.dequeue.mutate({ workerId: "w-seal", tasks: ["parent"], max: 1, waitMs: 0 });
    expect(claimed.map((r) => r.id)).toEqual([parentId]);

    const child = await client.batch.create.mutate({
      runCount: 2,
      parentRunId: parentId,
      resumeParentOnCompletion: true,
    });
    expect((await client.run.get.query({ runId: parentId })).status).toBe("WAITING");
    await untilStatus(child.id, "ABORTED");
    await waitFor(
      async () => ((await client.run.get.query({ runId: parentId })).status === "QUEUED" ? true : undefined),
      5_000,
      "parent QUEUED",
    );
  });

  it("is safe to run from several servers at once: each batch is aborted exactly once", async () => {
    const ids = await Promise.all(
      Array.from({ length: 5 }, () => client.batch.create.mutate({ runCount: 1 }).then((b) => b.id)),
    );
    // Far in the future: everything unsealed is overdue. Concurrent sweeps split the rows.
    const later = new Date(Date.now() + 3_600_000);
    const counts = await Promise.all(Array.from({ length: 4 }, () => abortUnsealedBatches(salvo.deps, later)));
    const events = await salvo.deps.db
      .selectFrom("events")
      .select(["batch_id", "data"])
      .where("batch_id", "in", ids)
      .where("type", "=", "batch.status")
      .execute();
    const aborts = events.filter((e) => JSON.stringify(e.data).includes("seal_timeout"));
    // Once per batch, whichever sweep (these four, or the server's own timer) got there first.
    expect(aborts.map((e) => e.batch_id).sort()).toEqual([...ids].sort());
    expect(counts.every((n) => n >= 0)).toBe(true);
    for (const id of ids) expect((await client.batch.get.query({ batchId: id })).status).toBe("ABORTED");
  });
});
