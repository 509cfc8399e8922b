import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSalvoClient } from "../client/index.js";
import { createWorker, type Worker } from "../client/worker.js";
import { lostRaces } from "../db/transaction.js";
import { until } from "./support/interleave.js";
import { ndjson, startTestSalvo, type TestSalvo } from "./support/salvo.js";

/**
 * The interleavings of the lock-order and shared-run tests (concurrency-lock-order,
 * concurrency-shared-runs), many times each, unforced, against a real Postgres with a worker
 * fleet executing as they go: every request succeeds, every batch completes with exact counters,
 * and no transaction of the server lost a deadlock or serialization race (`lostRaces`: what the
 * retries in db/transaction.ts would otherwise hide). About a minute in all.
 */
const databaseUrl = process.env.DATABASE_URL;
let salvo: TestSalvo;
let client: ReturnType<typeof createSalvoClient>;
const workers: Worker[] = [];
const workerErrors: unknown[] = [];
const tasks = ["stress-a", "stress-b"];

beforeAll(async () => {
  if (!databaseUrl) return;
  salvo = await startTestSalvo({
    SALVO_INGEST_CHUNK_ITEMS: "40",
    SALVO_SWEEP_INTERVAL_MS: "50",
    SALVO_RETRY_BASE_MS: "10",
  });
  client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
  const handler = async (payload: { ms?: number } | undefined) => {
    if (payload?.ms) await new Promise((r) => setTimeout(r, payload.ms));
    return "ok";
  };
  for (let i = 0; i < 3; i++) {
    workers.push(
      createWorker({
        url: salvo.url,
        apiKey: salvo.key,
        concurrency: 20,
        pollWaitMs: 500,
        onError: (err) => workerErrors.push(err),
        tasks: Object.fromEntries(tasks.map((t) => [t, handler])),
      }),
    );
  }
  await Promise.all(workers.map((w) => w.ready));
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop({ graceMs: 2_000 })));
  await salvo?.close();
});

let serial = 0;
const unique = (what: string) => `${what}-${Date.now().toString(36)}-${serial++}`;
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
const keyed = (task: string, key: string, ms = 0) => ({ task, payload: { ms }, options: { idempotencyKey: key } });

async function createTwoPhase(runCount: number) {
  const res = await salvo.api("/api/v3/batches", { json: { runCount } });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}
async function stream(batchId: string, items: unknown[]) {
  const res = await salvo.api(`/api/v3/batches/${batchId}/items`, {
    method: "POST",
    headers: { "content-type": "application/x-ndjson" },
    body: ndjson(items),
  });
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as { sealed: boolean };
}

/** Every batch reaches COMPLETED, with as many items counted finished as it has runs. */
async function expectAllCompleted(batchIds: string[], timeoutMs = 30_000) {
  const rows = () =>
    salvo.deps.db
      .selectFrom("batches")
      .select(["id", "status", "finished_item_count", "successful_run_count"])
      .where("id", "in", batchIds)
      .execute();
  await until(
    async () => (await rows()).every((b) => b.status === "COMPLETED"),
    `${batchIds.length} batches complete`,
    timeoutMs,
  ).catch(() => {});
  for (const b of await rows()) {
    expect(b, `batch ${b.id}`).toMatchObject({ status: "COMPLETED", finished_item_count: b.successful_run_count });
  }
}

describe.skipIf(!databaseUrl)("concurrency stress (needs DATABASE_URL)", () => {
  it("batches reusing each other's runs while workers finish them (issue 20, finding 5)", async () => {
    const batches: string[] = [];
    await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const keys = [unique("k"), unique("k")];
        const a = await client.batch.trigger.mutate({ items: keys.map((k) => keyed(tasks[i % 2]!, k)) });
        await pause(i % 6);
        const b =
          i % 2 === 0
            ? (
                await client.batch.trigger.mutate({
                  items: [...keys.map((k) => keyed(tasks[i % 2]!, k)), { task: "stress-a", payload: {} }],
                })
              ).batchId
            : await (async () => {
                const id = await createTwoPhase(3);
                await stream(id, [
                  ...keys.map((k, index) => ({ index, ...keyed(tasks[i % 2]!, k) })),
                  { index: 2, task: "stress-b", payload: {} },
                ]);
                return id;
              })();
        batches.push(a.batchId, b);
      }),
    );
    await expectAllCompleted(batches);
  });

  it("one stream sent twice at once, its later items reusing its own runs, while workers execute (findings 1, 6)", async () => {
    const batches: string[] = [];
    for (let round = 0; round < 6; round++) {
      const id = await createTwoPhase(400);
      const keys = Array.from({ length: 200 }, () => unique("own"));
      // Items 200..399 name the keys of items 0..199: they resolve to the batch's own runs.
      const items = Array.from({ length: 400 }, (_, index) => ({
        index,
        ...keyed(tasks[index % 2]!, keys[index % 200]!),
      }));
      const answers = await Promise.all([stream(id, items), stream(id, items)]);
      expect(answers.every((a) => a.sealed)).toBe(true);
      batches.push(id);
    }
    await expectAllCompleted(batches);
  });

  it("batch.cancel while workers complete the batch's runs (finding 3)", async () => {
    const batches: string[] = [];
    await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const { batchId } = await client.batch.trigger.mutate({
          items: Array.from({ length: 20 }, (_, j) => ({ task: tasks[j % 2]!, payload: { ms: j % 5 } })),
        });
        await pause(i % 15);
        await client.batch.cancel.mutate({ batchId });
        batches.push(batchId);
      }),
    );
    await expectAllCompleted(batches);
  });

  it("released idempotency keys reused by three batches at once (finding 4)", async () => {
    // Runs of a task no worker serves, expiring at once: their keys are released for the batches below.
    const task = "stress-unserved";
    const rounds = Array.from({ length: 5 }, () => Array.from({ length: 20 }, () => unique("released")));
    const { runs: expiring } = await client.batch.trigger.mutate({
      items: rounds.flat().map((key) => ({ task, payload: {}, options: { idempotencyKey: key, ttl: 1 } })),
    });
    await until(
      async () =>
        (await salvo.deps.db.selectFrom("runs").select("status").where("id", "in", expiring).execute()).every(
          (r) => r.status === "EXPIRED",
        ),
      "the first runs expire",
    );
    const batches: string[] = [];
    for (const keys of rounds) {
      const results = await Promise.all(
        Array.from({ length: 3 }, () =>
          client.batch.trigger.mutate({
            items: keys.map((key) => ({ task, payload: {}, options: { idempotencyKey: key } })),
          }),
        ),
      );
      // One new run per key, shared by the three batches.
      expect(results[1]!.runs).toEqual(results[0]!.runs);
      expect(results[2]!.runs).toEqual(results[0]!.runs);
      expect(results[0]!.runs.some((id) => expiring.includes(id))).toBe(false);
      // Nobody executes them: canceling the batches that created them finishes all three batches.
      for (const r of results) await client.batch.cancel.mutate({ batchId: r.batchId });
      batches.push(...results.map((r) => r.batchId));
    }
    await expectAllCompleted(batches);
  });

  it("lost no race and no worker call failed", () => {
    expect(lostRaces).toEqual({ deadlocks: 0, serializationFailures: 0 });
    expect(workerErrors).toEqual([]);
  });
});
