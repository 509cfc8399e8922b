import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createSalvoClient, createWorker, type Worker } from "../client/index.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";
import { waitFor } from "./support/wait.js";

let salvo: TestSalvo;
let client: ReturnType<typeof createSalvoClient>;
const workers: Worker[] = [];

beforeAll(async () => {
  salvo = await startTestSalvo({
    SALVO_LEASE_MS: "10000",
    SALVO_RETRY_BASE_MS: "20",
    SALVO_RETRY_MAX_MS: "200",
    SALVO_SWEEP_INTERVAL_MS: "50",
  });
  client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop({ graceMs: 2000 })));
});
afterAll(() => salvo?.close());

function startWorker(tasks: Parameters<typeof createWorker>[0]["tasks"], concurrency = 10, apiKey = salvo.key) {
  const worker = createWorker({ url: salvo.url, apiKey, tasks, concurrency, pollWaitMs: 2000 });
  workers.push(worker);
  return worker;
}

const batchStatus = async (batchId: string) => (await client.batch.get.query({ batchId })).status;
const untilBatchCompleted = (batchId: string, timeoutMs = 60_000) =>
  waitFor(
    async () => ((await batchStatus(batchId)) === "COMPLETED" ? true : undefined),
    timeoutMs,
    `batch ${batchId} COMPLETED`,
  );

describe("workers execute runs", () => {
  it("completes every batch sharing a run through idempotency keys, counting each of their items once", async () => {
    const key = `shared-${Date.now()}`;
    // A creates the run; B points at it twice (two items with the key) and has one run of its own.
    const a = await client.batch.trigger.mutate({
      items: [{ task: "shared", payload: 1, options: { idempotencyKey: key } }],
    });
    const b = await client.batch.trigger.mutate({
      items: [
        { task: "shared", payload: 2, options: { idempotencyKey: key } },
        { task: "shared", payload: 3 },
        { task: "shared", payload: 4, options: { idempotencyKey: key } },
      ],
    });
    expect(b.runs[0]).toBe(a.runs[0]);
    expect(b.runs[2]).toBe(a.runs[0]);
    const ledger = await salvo.deps.db
      .selectFrom("batch_items")
      .select(["batch_id", "batch_index", "cached"])
      .where("batch_id", "in", [a.batchId, b.batchId])
      .orderBy("batch_id")
      .orderBy("batch_index")
      .execute();
    expect(ledger.filter((row) => row.cached).map((row) => [row.batch_id, row.batch_index])).toEqual([
      [b.batchId, 0],
      [b.batchId, 2],
    ]);

    const executed: unknown[] = [];
    startWorker({ shared: async (payload) => void executed.push(payload) });
    await untilBatchCompleted(a.batchId);
    await untilBatchCompleted(b.batchId);
    expect(executed.sort()).toEqual([1, 3]);
    const finished = await salvo.deps.db
      .selectFrom("batches")
      .select(["id", "finished_item_count"])
      .where("id", "in", [a.batchId, b.batchId])
      .execute();
    expect(Object.fromEntries(finished.map((row) => [row.id, row.finished_item_count]))).toEqual({
      [a.batchId]: 1,
      [b.batchId]: 3,
    });
  });

  it("runs every run of a 1,000-item batch exactly once and completes the batch", async () => {
    const seen = new Map<string, number>();
    const items = Array.from({ length: 1000 }, (_, i) => ({ task: "square", payload: { n: i } }));
    const { id: batchId } = await client.batch.create.mutate({ runCount: 1000 });
    await client.batch.appendItems.mutate({ batchId, items: items.map((item, index) => ({ ...item, index })) });
    startWorker(
      {
        square: async (payload: { n: number }, ctx) => {
          seen.set(ctx.run.id, (seen.get(ctx.run.id) ?? 0) + 1);
          return { square: payload.n * payload.n };
        },
      },
      25,
    );
    await untilBatchCompleted(batchId);

    expect(seen.size).toBe(1000);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    const results = await client.batch.results.query({ batchId });
    expect(results.items).toHaveLength(1000);
    const restResults = (await (await salvo.api(`/api/v1/batches/${batchId}/results`)).json()) as {
      id: string;
      items: Record<string, unknown>[];
    };
    expect(restResults.id).toBe(batchId);
    expect(restResults.items[7]).toEqual({
      ok: true,
      id: results.items[7]!.runId,
      taskIdentifier: "square",
      output: '{"json":{"square":49}}',
      outputType: "application/super+json",
    });
    expect(results.items[7]).toMatchObject({ index: 7, ok: true, status: "COMPLETED", output: { square: 49 } });

    const rest = await (await salvo.api(`/api/v1/batches/${batchId}`)).json();
    expect(rest).toMatchObject({ status: "COMPLETED", runCount: 1000, successfulRunCount: 1000, failedRunCount: 0 });
    const run = await (await salvo.api(`/api/v3/runs/${results.items[7]!.runId}`)).json();
    expect(run).toMatchObject({
      status: "COMPLETED",
      isCompleted: true,
      isSuccess: true,
      output: { square: 49 },
      attemptCount: 1,
    });
  });

  it("never exceeds a queue's concurrency limit, nor a concurrency key's share, under 8 competing workers", async () => {
    let running = 0;
    let maxRunning = 0;
    const perKey = new Map<string, number>();
    const maxPerKey = new Map<string, number>();
    const handler = async (_: unknown, ctx: { run: { concurrencyKey?: string } }) => {
      const key = ctx.run.concurrencyKey ?? "";
      running++;
      perKey.set(key, (perKey.get(key) ?? 0) + 1);
      maxRunning = Math.max(maxRunning, running);
      maxPerKey.set(key, Math.max(maxPerKey.get(key) ?? 0, perKey.get(key)!));
      await new Promise((r) => setTimeout(r, 15));
      running--;
      perKey.set(key, perKey.get(key)! - 1);
    };
    for (let i = 0; i < 8; i++) startWorker({ limited: handler, keyed: handler }, 10);

    const limited = await client.batch.trigger.mutate({
      items: Array.from({ length: 120 }, () => ({
        task: "limited",
        options: { queue: { name: "limited-q", concurrencyLimit: 3 } },
      })),
    });
    await untilBatchCompleted(limited.batchId);
    expect(maxRunning).toBe(3);

    maxRunning = 0;
    maxPerKey.clear();
    const keyed = await client.batch.trigger.mutate({
      items: Array.from({ length: 150 }, (_, i) => ({
        task: "keyed",
        options: { queue: { name: "keyed-q", concurrencyLimit: 2 }, concurrencyKey: `user-${i % 3}` },
      })),
    });
    await untilBatchCompleted(keyed.batchId);
    expect([...maxPerKey.values()].sort()).toEqual([2, 2, 2]);
    expect(maxRunning).toBeLessThanOrEqual(6);
    // 270 runs at most 3 (then 6) at a time: close to a minute on a busy 2-core machine.
  }, 180_000);

  it("honors a limit set through the router, and holds a paused queue", async () => {
    expect(await client.queue.update.mutate({ name: "task/solo", concurrencyLimit: 1 })).toEqual({
      name: "task/solo",
      concurrencyLimit: 1,
      paused: false,
    });
    await client.queue.update.mutate({ name: "task/held", paused: true });
    let running = 0;
    let maxRunning = 0;
    const solo = async () => {
      maxRunning = Math.max(maxRunning, ++running);
      await new Promise((r) => setTimeout(r, 10));
      running--;
    };
    let heldRuns = 0;
    for (let i = 0; i < 4; i++) startWorker({ solo, held: async () => void heldRuns++ }, 5);
    const held = await client.task.trigger.mutate({ task: "held" });
    const { batchId } = await client.batch.trigger.mutate({
      items: Array.from({ length: 20 }, () => ({ task: "solo" })),
    });
    await untilBatchCompleted(batchId);
    expect(maxRunning).toBe(1);
    expect(heldRuns).toBe(0);
    expect((await client.run.get.query({ runId: held.id })).status).toBe("QUEUED");
    await client.queue.update.mutate({ name: "task/held", paused: false });
    await waitFor(
      async () => ((await client.run.get.query({ runId: held.id })).status === "COMPLETED" ? true : undefined),
      10_000,
    );
  });

  it("keeps a delayed run DELAYED until its time, then runs it", async () => {
    const startedAt: number[] = [];
    startWorker({ later: async () => void startedAt.push(Date.now()) });
    const triggered = Date.now();
    const { id } = await client.task.trigger.mutate({ task: "later", options: { delay: "2s" } });
    expect((await client.run.get.query({ runId: id })).status).toBe("DELAYED");
    await waitFor(
      async () => ((await client.run.get.query({ runId: id })).status === "COMPLETED" ? true : undefined),
      10_000,
    );
    expect(startedAt).toHaveLength(1);
    expect(startedAt[0]! - triggered).toBeGreaterThanOrEqual(1900);
  });

  it("expires a run whose TTL passes before it starts, and never executes it", async () => {
    const { id } = await client.task.trigger.mutate({ task: "too-late", options: { ttl: 1 } });
    await waitFor(
      async () => ((await client.run.get.query({ runId: id })).status === "EXPIRED" ? true : undefined),
      10_000,
    );
    let executed = 0;
    startWorker({ "too-late": async () => void executed++ });
    await new Promise((r) => setTimeout(r, 500));
    expect(executed).toBe(0);
    const run = (await (await salvo.api(`/api/v3/runs/${id}`)).json()) as Record<string, unknown>;
    expect(run).toMatchObject({ status: "EXPIRED", isFailed: true, isCompleted: true, ttl: "1s" });
    // Expired by the sweep, at or after its deadline (created + 1 s ttl).
    expect(Date.parse(String(run.expiredAt)) - Date.parse(String(run.createdAt))).toBeGreaterThanOrEqual(1000);
  });

  it("retries a throwing handler maxAttempts times, then FAILS the run with the error", async () => {
    const attempts: number[] = [];
    startWorker({
      flaky: async (_: unknown, ctx) => {
        attempts.push(ctx.run.attempt);
        throw new Error(`boom ${ctx.run.attempt}`);
      },
    });
    const { id } = await client.task.trigger.mutate({ task: "flaky", options: { maxAttempts: 3 } });
    const run = await waitFor(async () => {
      const r = await client.run.get.query({ runId: id });
      return r.status === "FAILED" ? r : undefined;
    });
    expect(attempts).toEqual([1, 2, 3]);
    expect(run.attemptCount).toBe(3);
    expect(run.error).toMatchObject({ name: "Error", message: "boom 3" });
  });

  it("cancels a queued run, and every unfinished run of a batch", async () => {
    const { id } = await client.task.trigger.mutate({ task: "nobody-serves-this" });
    const res = await salvo.api(`/api/v2/runs/${id}/cancel`, { method: "POST" });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id });
    expect((await client.run.get.query({ runId: id })).status).toBe("CANCELED");

    const batch = await client.batch.trigger.mutate({
      items: [{ task: "nobody-serves-this" }, { task: "nobody-serves-this" }],
    });
    expect(await client.batch.cancel.mutate({ batchId: batch.batchId })).toEqual({
      id: batch.batchId,
      canceledRuns: 2,
    });
    expect(await batchStatus(batch.batchId)).toBe("COMPLETED");

    // A run another batch created, reached through an idempotency key, is not this batch's to cancel.
    const key = `cancel-shared-${Date.now()}`;
    const owner = await client.batch.trigger.mutate({
      items: [{ task: "nobody-serves-this", options: { idempotencyKey: key } }],
    });
    const sharing = await client.batch.trigger.mutate({
      items: [{ task: "nobody-serves-this", options: { idempotencyKey: key } }, { task: "nobody-serves-this" }],
    });
    expect(sharing.runs[0]).toBe(owner.runs[0]);
    expect(await client.batch.cancel.mutate({ batchId: sharing.batchId })).toEqual({
      id: sharing.batchId,
      canceledRuns: 1,
    });
    expect((await client.run.get.query({ runId: owner.runs[0]! })).status).toBe("QUEUED");
    expect((await client.run.get.query({ runId: sharing.runs[1]! })).status).toBe("CANCELED");
    expect((await client.run.list.query({ batchId: sharing.batchId })).items.map((r) => r.id)).toEqual([
      sharing.runs[1],
    ]);

    const unknown = await salvo.api("/api/v2/runs/run_doesnotexist/cancel", { method: "POST" });
    expect(unknown.status).toBe(404);
  });

  it("rotates across queues: a small queue is not held back by a large one", async () => {
    const order: string[] = [];
    const big = await client.batch.trigger.mutate({ items: Array.from({ length: 600 }, () => ({ task: "big-task" })) });
    const small = await client.batch.trigger.mutate({
      items: Array.from({ length: 10 }, () => ({ task: "small-task" })),
    });
    startWorker(
      { "big-task": async () => void order.push("big"), "small-task": async () => void order.push("small") },
      4,
    );
    await untilBatchCompleted(small.batchId);
    await untilBatchCompleted(big.batchId);
    const lastSmall = order.lastIndexOf("small");
    expect(lastSmall).toBeLessThan(60);
  });

  it("parks a parent in batchTriggerAndWait and resumes it with its children's results in order", async () => {
    let parentExecutions = 0;
    startWorker({
      child: async (payload: { n: number }) => {
        if (payload.n === 2) throw new Error("two is not allowed");
        return payload.n * 10;
      },
      parent: async (_: unknown, ctx) => {
        parentExecutions++;
        const results = await ctx.batchTriggerAndWait("child", [
          { payload: { n: 1 } },
          { payload: { n: 2 }, options: { maxAttempts: 1 } },
          { payload: { n: 3 } },
        ]);
        return results.map((r) => (r.ok ? r.output : `error: ${r.error?.message}`));
      },
    });
    const { id } = await client.task.trigger.mutate({ task: "parent" });
    const parent = await waitFor(async () => {
      const r = await client.run.get.query({ runId: id });
      return r.status === "COMPLETED" ? r : undefined;
    }, 30_000);
    expect(parent.output).toEqual([10, "error: two is not allowed", 30]);
    expect(parentExecutions).toBe(2);
    expect(parent.attemptCount).toBe(1);
    const history = await salvo.deps.db
      .selectFrom("events")
      .select("data")
      .where("run_id", "=", id)
      .where("type", "in", ["run.created", "run.status"])
      .orderBy("id")
      .execute();
    expect(history.map((e) => (e.data as { status: string }).status)).toEqual([
      "QUEUED",
      "EXECUTING",
      "WAITING",
      "QUEUED",
      "EXECUTING",
      "COMPLETED",
    ]);
  });
});
