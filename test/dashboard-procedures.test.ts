import { TRPCClientError } from "@trpc/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AppRouter, createSalvoClient } from "../client/index.js";
import { ndjson, startTestSalvo, type TestSalvo } from "./support/salvo.js";

/**
 * The router procedures the dashboard reads, as any typed client calls them: `batch.summary` (a
 * batch without its run ids), `batch.runs` (its runs in item order, also with its public token), `queue.list` with its
 * counts, `batch.list` with the finished counter. A cap of 5 queued runs gives batches item errors.
 */
let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo({ SALVO_MAX_QUEUED_RUNS: "5" });
});
afterAll(() => salvo?.close());

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TRPCClientError);
  return (error as TRPCClientError<AppRouter>).data?.code;
}

/** A new environment, a client for its key, and a way to make an 8-item batch (3 over the cap) with its public token. */
async function freshEnv() {
  const env = await salvo.newEnvironment();
  const client = createSalvoClient({ url: salvo.url, apiKey: env.secretKey });
  const api = (path: string, body: string, contentType = "application/json") =>
    fetch(salvo.url + path, {
      method: "POST",
      headers: { authorization: `Bearer ${env.secretKey}`, "content-type": contentType },
      body,
    });
  const batchOf = async (count: number) => {
    const res = await api("/api/v3/batches", JSON.stringify({ runCount: count, idempotencyKey: `k-${count}` }));
    const { id } = (await res.json()) as { id: string };
    const items = Array.from({ length: count }, (_, index) => ({ index, task: "t", payload: { index } }));
    expect((await api(`/api/v3/batches/${id}/items`, ndjson(items), "application/x-ndjson")).status).toBe(200);
    return { id, token: res.headers.get("x-trigger-jwt")! };
  };
  return { env, client, batchOf };
}

describe("batch.summary", () => {
  it("answers the batch without its run ids: its first item errors, their count, and the finished counter", async () => {
    const { client, batchOf } = await freshEnv();
    const batch = await batchOf(8);
    const summary = await client.batch.summary.query({ batchId: batch.id, errorLimit: 2 });
    expect(summary).toMatchObject({
      id: batch.id,
      status: "PARTIAL_FAILED",
      idempotencyKey: "k-8",
      runCount: 8,
      successfulRunCount: 5,
      failedRunCount: 3,
      finishedItemCount: 0,
      errorCount: 3,
    });
    expect(summary).not.toHaveProperty("runs");
    expect(summary.errors.map((e) => [e.index, e.errorCode])).toEqual([
      [5, "QUEUE_SIZE_LIMIT_EXCEEDED"],
      [6, "QUEUE_SIZE_LIMIT_EXCEEDED"],
    ]);
    // The default is 20 errors; 0 asks for the count alone.
    expect((await client.batch.summary.query({ batchId: batch.id })).errors).toHaveLength(3);
    expect((await client.batch.summary.query({ batchId: batch.id, errorLimit: 0 })).errors).toEqual([]);
    // The same batch as batch.get and batch.list describe it.
    const full = await client.batch.get.query({ batchId: batch.id });
    expect(summary.errors).toEqual(full.errors.slice(0, 2));
    const listed = (await client.batch.list.query({})).items.find((b) => b.id === batch.id);
    expect(listed).toMatchObject({ finishedItemCount: 0, successfulRunCount: 5 });

    await client.run.cancel.mutate({ runId: full.runs[0]! });
    expect((await client.batch.summary.query({ batchId: batch.id })).finishedItemCount).toBe(1);
  });

  it("is scoped: another environment's key gets NOT_FOUND, the batch's token reads it, another batch's token is FORBIDDEN", async () => {
    const mine = await freshEnv();
    const theirs = await freshEnv();
    const batch = await mine.batchOf(2);
    const other = await mine.batchOf(1);
    expect(await codeOf(theirs.client.batch.summary.query({ batchId: batch.id }))).toBe("NOT_FOUND");
    expect(await codeOf(mine.client.batch.summary.query({ batchId: "batch_doesnotexist" }))).toBe("NOT_FOUND");
    const viaToken = createSalvoClient({ url: salvo.url, apiKey: batch.token });
    expect((await viaToken.batch.summary.query({ batchId: batch.id })).id).toBe(batch.id);
    expect(await codeOf(viaToken.batch.summary.query({ batchId: other.id }))).toBe("FORBIDDEN");
    expect(await codeOf(mine.client.batch.summary.query({ batchId: batch.id, errorLimit: 101 }))).toBe("BAD_REQUEST");
  });
});

describe("batch.runs", () => {
  it("lists a batch's runs in item order, a window of item indexes a page, skipping items that became no run", async () => {
    const { client, batchOf } = await freshEnv();
    const batch = await batchOf(8); // items 5, 6 and 7 are over the queued-runs cap: no run
    const ids = (await client.batch.get.query({ batchId: batch.id })).runs;
    const first = await client.batch.runs.query({ batchId: batch.id, limit: 3 });
    expect(first.items.map((r) => [r.index, r.id, r.status, r.taskIdentifier])).toEqual(
      ids.slice(0, 3).map((id, index) => [index, id, "QUEUED", "t"]),
    );
    expect(first.nextCursor).toBe("2");
    // Items 3 to 5: 5 became no run, so the page has two runs; items 6 and 7 follow.
    const second = await client.batch.runs.query({ batchId: batch.id, limit: 3, cursor: first.nextCursor });
    expect(second.items.map((r) => r.index)).toEqual([3, 4]);
    expect(second.nextCursor).toBe("5");
    const third = await client.batch.runs.query({ batchId: batch.id, limit: 3, cursor: second.nextCursor });
    expect(third).toEqual({ items: [] });
    expect(second.items[0]).not.toHaveProperty("payload");
    expect((await client.batch.runs.query({ batchId: batch.id })).items).toHaveLength(5);
    expect(await codeOf(client.batch.runs.query({ batchId: batch.id, cursor: "x" }))).toBe("BAD_REQUEST");
    expect(await codeOf(client.batch.runs.query({ batchId: batch.id, limit: 101 }))).toBe("BAD_REQUEST");
  });

  it("is scoped: the batch's token lists it, another batch's is FORBIDDEN, another environment's key gets NOT_FOUND", async () => {
    const mine = await freshEnv();
    const theirs = await freshEnv();
    const batch = await mine.batchOf(2);
    const other = await mine.batchOf(1);
    const viaToken = createSalvoClient({ url: salvo.url, apiKey: batch.token });
    expect((await viaToken.batch.runs.query({ batchId: batch.id })).items).toHaveLength(2);
    expect(await codeOf(viaToken.batch.runs.query({ batchId: other.id }))).toBe("FORBIDDEN");
    expect(await codeOf(theirs.client.batch.runs.query({ batchId: batch.id }))).toBe("NOT_FOUND");
    expect(await codeOf(mine.client.batch.runs.query({ batchId: "batch_doesnotexist" }))).toBe("NOT_FOUND");
    // The token still reads nothing else: run.list stays for secret keys.
    expect(await codeOf(viaToken.run.list.query({ batchId: batch.id }))).toBe("UNAUTHORIZED");
  });
});

describe("queue.list", () => {
  it("answers each queue's limit and pause with its queued and executing runs, queues without settings included", async () => {
    const { client, batchOf } = await freshEnv();
    await batchOf(4);
    await client.queue.update.mutate({ name: "configured", concurrencyLimit: 3, paused: true });
    await client.worker.register.mutate({ workerId: "w1", tasks: ["t"] });
    const claimed = await client.worker.dequeue.mutate({ workerId: "w1", tasks: ["t"], max: 1, waitMs: 0 });
    expect(claimed).toHaveLength(1);
    expect(await client.queue.list.query()).toEqual([
      { name: "configured", concurrencyLimit: 3, paused: true, queued: 0, executing: 0 },
      { name: "task/t", concurrencyLimit: null, paused: false, queued: 3, executing: 1 },
    ]);
    // Another environment's runs are not counted.
    const stranger = await freshEnv();
    expect(await stranger.client.queue.list.query()).toEqual([]);
  });
});
