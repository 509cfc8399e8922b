import { batch, configure, runs, tasks } from "@trigger.dev/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AbortTaskRunError, createSalvoClient, createWorker } from "../client/index.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";
import { waitFor } from "./support/wait.js";

/** The SDK's run management around a batch: `runs.list` (filters, paging), `runs.replay`, `runs.reschedule`. */
let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo();
  configure({ baseURL: salvo.url, accessToken: salvo.key });
});
afterAll(() => salvo?.close());

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

describe("runs.list", () => {
  it("pages through exactly a batch's runs, newest first, with the batch, status and tag filters", async () => {
    const items = Array.from({ length: 23 }, (_, i) => ({
      payload: { i },
      options: { tags: i % 2 === 0 ? ["even"] : ["odd"] },
    }));
    const handle = await tasks.batchTrigger("list-task", items);
    await tasks.batchTrigger("list-task", [{ payload: { other: true }, options: { tags: ["even"] } }]);
    const ids = (await batch.retrieve(handle.batchId)).runs;
    await runs.cancel(ids[3]!);
    await runs.cancel(ids[4]!);

    const all = await collect(runs.list({ batch: handle.batchId, limit: 5 }));
    expect(all.map((r) => r.id).sort()).toEqual([...ids].sort());
    expect(new Set(all.map((r) => r.id)).size).toBe(23);
    // Newest first: creation times never increase along the list.
    for (let i = 1; i < all.length; i++)
      expect(all[i]!.createdAt.getTime()).toBeLessThanOrEqual(all[i - 1]!.createdAt.getTime());
    expect(all[0]!.env).toEqual({ id: salvo.env.environmentId, name: "dev" });

    const canceled = await collect(runs.list({ batch: handle.batchId, status: "CANCELED" }));
    expect(canceled.map((r) => r.id).sort()).toEqual([ids[3], ids[4]].sort());
    expect(canceled.every((r) => r.isCancelled)).toBe(true);
    const queuedOrCanceled = await collect(
      runs.list({ batch: handle.batchId, status: ["QUEUED", "CANCELED"], limit: 7 }),
    );
    expect(queuedOrCanceled).toHaveLength(23);

    const even = await collect(runs.list({ batch: handle.batchId, tag: "even", limit: 4 }));
    expect(even.map((r) => r.id).sort()).toEqual(ids.filter((_, i) => i % 2 === 0).sort());
    expect((await collect(runs.list({ batch: handle.batchId, taskIdentifier: "nope" }))).length).toBe(0);
  });

  it("a page's previous cursor goes back to the page before it", async () => {
    const handle = await tasks.batchTrigger(
      "list-back",
      Array.from({ length: 6 }, (_, i) => ({ payload: i })),
    );
    const first = await runs.list({ batch: handle.batchId, limit: 4 });
    expect(first.hasPreviousPage()).toBe(false);
    const second = await first.getNextPage();
    expect(second.data).toHaveLength(2);
    expect(second.hasNextPage()).toBe(false);
    const back = await second.getPreviousPage();
    expect(back.data.map((r) => r.id)).toEqual(first.data.map((r) => r.id));
  });

  it("filters by queue, test flag and creation time; unknown filters and statuses are 400s", async () => {
    const start = new Date();
    const run = await tasks.trigger("list-queue", {}, { queue: "list-q", tags: ["qt"] });
    const byQueue = await collect(runs.list({ queue: { type: "custom", name: "list-q" } } as never));
    expect(byQueue.map((r) => r.id)).toEqual([run.id]);
    expect((await collect(runs.list({ tag: "qt", isTest: true }))).length).toBe(0);
    expect((await collect(runs.list({ tag: "qt", from: start }))).map((r) => r.id)).toEqual([run.id]);
    expect((await collect(runs.list({ tag: "qt", to: new Date(start.getTime() - 60_000) }))).length).toBe(0);
    expect((await collect(runs.list({ tag: "qt", period: "1h" }))).map((r) => r.id)).toEqual([run.id]);
    expect((await salvo.api("/api/v1/runs?filter[status]=BOGUS")).status).toBe(400);
    expect((await salvo.api("/api/v1/runs?filter[version]=20250101.1")).status).toBe(400);
    expect((await salvo.api("/api/v1/runs?page[size]=1000")).status).toBe(400);
  });
});

describe("runs.replay", () => {
  it("creates a new run of the same task with the same payload and options", async () => {
    const original = await tasks.trigger(
      "replay-task",
      { when: new Date("2026-01-02T03:04:05.000Z"), n: 1 },
      { tags: ["r1"], queue: "replay-q", maxAttempts: 3 },
    );
    const replay = await runs.replay(original.id);
    expect(replay.id).toMatch(/^run_/);
    expect(replay.id).not.toBe(original.id);
    const [before, after] = await Promise.all([runs.retrieve(original.id), runs.retrieve(replay.id)]);
    expect(after.taskIdentifier).toBe("replay-task");
    expect(after.payload).toEqual(before.payload);
    expect(after.tags).toEqual(["r1"]);
    expect(after.status).toBe("QUEUED");
  });

  it("replaces what the body gives; an unknown run is 404", async () => {
    const original = await tasks.trigger("replay-task", { n: 1 });
    const replay = await runs.replay(original.id, { payload: { n: 2 }, tags: ["changed"] } as never);
    const after = await runs.retrieve(replay.id);
    expect(after.payload).toEqual({ n: 2 });
    expect(after.tags).toEqual(["changed"]);
    await expect(runs.replay("run_doesnotexist0000000")).rejects.toMatchObject({ status: 404 });
  });

  it("batch.retryFailed replays a batch's failed runs, and only those (tRPC)", async () => {
    const client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
    const handle = await tasks.batchTrigger("retry-task", [{ payload: 1 }, { payload: 2 }, { payload: 3 }]);
    const ids = (await batch.retrieve(handle.batchId)).runs;
    const worker = createWorker({
      url: salvo.url,
      apiKey: salvo.key,
      tasks: {
        "retry-task": (n: number) => {
          if (n !== 2) throw new AbortTaskRunError(`no ${n}`);
          return n;
        },
      },
      pollWaitMs: 500,
    });
    try {
      await waitFor(
        async () => ((await batch.retrieve(handle.batchId)).status === "COMPLETED" ? true : undefined),
        20_000,
        "the batch to complete",
      );
    } finally {
      await worker.stop({ graceMs: 1000 });
    }
    const { replays } = await client.batch.retryFailed.mutate({ batchId: handle.batchId });
    expect(replays.map((r) => r.runId)).toEqual([ids[0], ids[2]]);
    const replayed = await Promise.all(replays.map((r) => runs.retrieve(r.replayId)));
    expect(replayed.map((r) => [r.payload, r.taskIdentifier])).toEqual([
      [1, "retry-task"],
      [3, "retry-task"],
    ]);
    expect(replays.every((r) => r.replayId !== r.runId)).toBe(true);
    await expect(client.batch.retryFailed.mutate({ batchId: "batch_doesnotexist00000" })).rejects.toMatchObject({
      data: { code: "NOT_FOUND" },
    });
  });
});

describe("runs.reschedule", () => {
  it("moves a delayed run; a run that is not delayed is a 400", async () => {
    const delayed = await tasks.trigger("later", {}, { delay: "1h" });
    const moved = await runs.reschedule(delayed.id, { delay: "2h" });
    expect(moved.id).toBe(delayed.id);
    expect(moved.status).toBe("DELAYED");
    expect(moved.delayedUntil!.getTime()).toBeGreaterThan(Date.now() + 119 * 60_000);
    const now = await tasks.trigger("later", {});
    await expect(runs.reschedule(now.id, { delay: "1h" })).rejects.toMatchObject({ status: 400 });
  });
});
