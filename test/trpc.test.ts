import { TRPCClientError } from "@trpc/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AppRouter, createSalvoClient, type SalvoClient } from "../client/index.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";

// The typed router through createSalvoClient (superjson over /trpc).
let salvo: TestSalvo;
let client: SalvoClient;
beforeAll(async () => {
  salvo = await startTestSalvo();
  client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
});
afterAll(() => salvo?.close());

/** The tRPC error code a call fails with. */
async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(TRPCClientError);
    return (err as TRPCClientError<AppRouter>).data?.code;
  }
  throw new Error("expected the call to fail");
}

/** Every item of a paginated list, page by page. */
async function everyPage<T>(fetchPage: (cursor?: string) => Promise<{ items: T[]; nextCursor?: string }>) {
  const all: T[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await fetchPage(cursor);
    all.push(...page.items);
    cursor = page.nextCursor;
    pages++;
  } while (cursor);
  return { all, pages };
}

describe("batches", () => {
  it("create → appendItems (idempotent by index) → get", async () => {
    const created = await client.batch.create.mutate({ runCount: 3, idempotencyKey: "trpc-1" });
    expect(created).toEqual({
      id: expect.stringMatching(/^batch_/),
      runCount: 3,
      isCached: false,
      idempotencyKey: "trpc-1",
    });

    const first = await client.batch.appendItems.mutate({
      batchId: created.id,
      items: [
        { index: 0, task: "t", payload: 0 },
        { index: 1, task: "t", payload: 1 },
      ],
    });
    expect(first).toEqual({
      id: created.id,
      itemsAccepted: 2,
      itemsDeduplicated: 0,
      sealed: false,
      enqueuedCount: 2,
      expectedCount: 3,
    });
    const last = await client.batch.appendItems.mutate({
      batchId: created.id,
      items: [
        { index: 1, task: "t", payload: 1 },
        { index: 2, task: "t", payload: 2 },
      ],
    });
    expect(last).toEqual({ id: created.id, itemsAccepted: 1, itemsDeduplicated: 1, sealed: true });

    const batch = await client.batch.get.query({ batchId: created.id });
    expect(batch).toMatchObject({ id: created.id, runCount: 3, sealed: true, idempotencyKey: "trpc-1", errors: [] });
    expect(batch.runs).toHaveLength(3);
    expect(batch.createdAt).toBeInstanceOf(Date);
  });

  it("trigger (one-shot) answers runs in order, retrievable with run.get", async () => {
    const result = await client.batch.trigger.mutate({
      items: [
        { task: "a", payload: "x" },
        { task: "b", payload: "y" },
      ],
    });
    expect(result.isCached).toBe(false);
    const runs = await Promise.all(result.runs.map((runId) => client.run.get.query({ runId })));
    expect(runs.map((r) => [r.taskIdentifier, r.payload, r.batchIndex, r.batchId, r.status])).toEqual([
      ["a", "x", 0, result.batchId, "QUEUED"],
      ["b", "y", 1, result.batchId, "QUEUED"],
    ]);
  });

  it("a Date inside a payload survives the router (superjson)", async () => {
    const when = new Date("2026-01-02T03:04:05.678Z");
    const { runs } = await client.batch.trigger.mutate({
      items: [{ task: "dated", payload: { when, nested: [when] } }],
    });
    const run = await client.run.get.query({ runId: runs[0]! });
    const payload = run.payload as { when: Date; nested: Date[] };
    expect(payload.when).toBeInstanceOf(Date);
    expect(payload.when.toISOString()).toBe(when.toISOString());
    expect(payload.nested[0]).toBeInstanceOf(Date);

    const single = await client.task.trigger.mutate({ task: "dated", payload: { when } });
    expect(((await client.run.get.query({ runId: single.id })).payload as { when: Date }).when).toEqual(when);
  });

  it("list: cursor pagination over every batch once, and the status filter", async () => {
    const env = await salvo.newEnvironment();
    const own = createSalvoClient({ url: salvo.url, apiKey: env.secretKey });
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await own.batch.create.mutate({ runCount: 1 })).id);
    const done = await own.batch.trigger.mutate({ items: [{ task: "t" }] });

    const { all, pages } = await everyPage((cursor) => own.batch.list.query({ limit: 3, cursor }));
    expect(pages).toBe(3);
    expect(all.map((b) => b.id).sort()).toEqual([...ids, done.batchId].sort());
    // Newest first.
    expect(all[0]!.id).toBe(done.batchId);

    // Created and sealed batches alike are PENDING until their runs finish.
    const pending = await own.batch.list.query({ status: "PENDING", limit: 100 });
    expect(pending.items.map((b) => b.id).sort()).toEqual([...ids, done.batchId].sort());
    expect(pending.nextCursor).toBeUndefined();
    expect((await own.batch.list.query({ status: "COMPLETED" })).items).toEqual([]);
    const sealed = all.filter((b) => b.sealed).map((b) => b.id);
    expect(sealed).toEqual([done.batchId]);
  });

  it("list pages through batches created within the same millisecond without losing any", async () => {
    // Postgres keeps microseconds; a cursor that kept only milliseconds would skip rows here.
    const env = await salvo.newEnvironment();
    const own = createSalvoClient({ url: salvo.url, apiKey: env.secretKey });
    const ids = await Promise.all(
      Array.from({ length: 30 }, async () => (await own.batch.create.mutate({ runCount: 1 })).id),
    );
    const { all } = await everyPage((cursor) => own.batch.list.query({ limit: 1, cursor }));
    expect(all.map((b) => b.id).sort()).toEqual([...ids].sort());
  });
});

describe("runs", () => {
  it("list filters by status, taskIdentifier, batchId and tag, and paginates", async () => {
    const env = await salvo.newEnvironment();
    const own = createSalvoClient({ url: salvo.url, apiKey: env.secretKey });
    const batch = await own.batch.trigger.mutate({
      items: [
        { task: "alpha", options: { tags: ["red"] } },
        { task: "beta", options: { tags: ["red", "blue"] } },
        { task: "alpha", options: { delay: "1h" } },
        { task: "gamma" },
      ],
    });
    const lone = await own.task.trigger.mutate({ task: "alpha", payload: 1, options: { tags: "blue" } });

    const ids = async (input: Parameters<typeof own.run.list.query>[0]) =>
      (await own.run.list.query(input)).items.map((r) => r.id).sort();
    const r = batch.runs;
    expect(await ids({ taskIdentifier: "alpha" })).toEqual([r[0], r[2], lone.id].sort());
    expect(await ids({ status: "DELAYED" })).toEqual([r[2]]);
    expect(await ids({ batchId: batch.batchId })).toEqual([...r].sort());
    expect(await ids({ tag: "blue" })).toEqual([r[1], lone.id].sort());
    expect(await ids({ tag: "red", taskIdentifier: "beta" })).toEqual([r[1]]);

    const { all, pages } = await everyPage((cursor) => own.run.list.query({ limit: 2, cursor }));
    expect(pages).toBe(3);
    expect(all.map((x) => x.id).sort()).toEqual([...r, lone.id].sort());
  });

  it("task.trigger creates a QUEUED run; an idempotency key returns it again", async () => {
    const a = await client.task.trigger.mutate({
      task: "solo",
      payload: { n: 1 },
      options: { idempotencyKey: "solo-1" },
    });
    const b = await client.task.trigger.mutate({
      task: "solo",
      payload: { n: 2 },
      options: { idempotencyKey: "solo-1" },
    });
    expect(a.isCached).toBe(false);
    expect(b).toEqual({ id: a.id, isCached: true });
    const run = await client.run.get.query({ runId: a.id });
    expect(run).toMatchObject({
      status: "QUEUED",
      triggerFunction: "trigger",
      payload: { n: 1 },
      idempotencyKey: "solo-1",
    });
  });
});

describe("errors", () => {
  it("UNAUTHORIZED for a wrong key", async () => {
    const stranger = createSalvoClient({ url: salvo.url, apiKey: "tr_dev_wrongwrongwrongwrong" });
    expect(await codeOf(stranger.batch.list.query({}))).toBe("UNAUTHORIZED");
    expect(await codeOf(stranger.batch.create.mutate({ runCount: 1 }))).toBe("UNAUTHORIZED");
  });

  it("NOT_FOUND for another environment's batch and run", async () => {
    const { batchId, runs } = await client.batch.trigger.mutate({ items: [{ task: "mine" }] });
    const env = await salvo.newEnvironment();
    const other = createSalvoClient({ url: salvo.url, apiKey: env.secretKey });
    expect(await codeOf(other.batch.get.query({ batchId }))).toBe("NOT_FOUND");
    expect(await codeOf(other.run.get.query({ runId: runs[0]! }))).toBe("NOT_FOUND");
    expect(await codeOf(other.batch.appendItems.mutate({ batchId, items: [{ index: 0, task: "x" }] }))).toBe(
      "NOT_FOUND",
    );
    expect((await other.run.list.query({ batchId })).items).toEqual([]);
  });

  it("BAD_REQUEST for invalid input", async () => {
    expect(await codeOf(client.batch.create.mutate({ runCount: 0 }))).toBe("BAD_REQUEST");
    expect(await codeOf(client.batch.trigger.mutate({ items: [] }))).toBe("BAD_REQUEST");
    expect(await codeOf(client.task.trigger.mutate({ task: "", payload: 1 }))).toBe("BAD_REQUEST");
    expect(await codeOf(client.batch.list.query({ cursor: "not-a-cursor" }))).toBe("BAD_REQUEST");
    expect(await codeOf(client.run.list.query({ limit: 1000 }))).toBe("BAD_REQUEST");
    const { id } = await client.batch.create.mutate({ runCount: 1 });
    expect(await codeOf(client.batch.appendItems.mutate({ batchId: id, items: [{ index: 5, task: "t" }] }))).toBe(
      "BAD_REQUEST",
    );
  });
});
