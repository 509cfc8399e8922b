import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createSalvoClient } from "../client/index.js";
import { testHooks } from "../server/test-hooks.js";
import { blockedBy, gate, track, until } from "./support/interleave.js";
import { ndjson, startTestSalvo, type TestSalvo } from "./support/salvo.js";

/**
 * A batch whose items resolve to runs that already exist (idempotency keys) counts each such run
 * once it is final, whenever it finishes: before, during or after the transaction that adds the
 * reference, including a batch that reuses its own runs. "During" is forced
 * with the ingest test hook: the batch's transaction waits there holding the runs its items
 * resolved to, while a worker's report for one of them starts and waits for it.
 */
const databaseUrl = process.env.DATABASE_URL;
let salvo: TestSalvo;
let client: ReturnType<typeof createSalvoClient>;
beforeAll(async () => {
  salvo = await startTestSalvo({ SALVO_SWEEP_INTERVAL_MS: "50" });
  client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
});
afterAll(() => salvo?.close());
afterEach(() => {
  testHooks.afterRunsCreated = undefined;
});

let serial = 0;
const unique = (what: string) => `${what}-${Date.now().toString(36)}-${serial++}`;

async function batchRow(batchId: string) {
  return salvo.deps.db
    .selectFrom("batches")
    .select(["status", "finished_item_count", "successful_run_count", "enqueued_count", "run_count"])
    .where("id", "=", batchId)
    .executeTakeFirstOrThrow();
}

/** A worker that claims one run of `task` (there must be exactly the one queued). */
async function claimOne(workerId: string, task: string) {
  await client.worker.register.mutate({ workerId, tasks: [task] });
  const [run] = await client.worker.dequeue.mutate({ workerId, tasks: [task], max: 1 });
  if (!run) throw new Error(`nothing to claim for ${task}`);
  return run;
}

/** Claims and completes every queued run of `task` (the items a test added besides the shared run). */
async function drain(workerId: string, task: string) {
  for (;;) {
    const runs = await client.worker.dequeue.mutate({ workerId, tasks: [task], max: 100 });
    if (runs.length === 0) return;
    for (const run of runs)
      await client.worker.complete.mutate({ workerId, runId: run.id, claimId: run.claimId, output: "own" });
  }
}

async function expectCompleted(batchId: string) {
  // Completion is decided in the transactions above; the wait only absorbs nothing but the sweeps.
  await until(
    async () => (await batchRow(batchId)).status !== "PENDING",
    `batch ${batchId} leaves PENDING`,
    3_000,
  ).catch(() => {});
  const row = await batchRow(batchId);
  expect(row).toMatchObject({ status: "COMPLETED" });
  expect(row.finished_item_count).toBe(row.successful_run_count);
}

/** Two ways a batch adds items: one request (one-shot), or the two-phase create + NDJSON stream. */
type Adder = (items: { task: string; key?: string }[]) => Promise<string>;
const oneShot: Adder = async (items) => {
  const { batchId } = await client.batch.trigger.mutate({
    items: items.map((i) => ({ task: i.task, payload: {}, ...(i.key ? { options: { idempotencyKey: i.key } } : {}) })),
  });
  return batchId;
};
const twoPhase: Adder = async (items) => {
  const created = await salvo.api("/api/v3/batches", { json: { runCount: items.length } });
  const { id } = (await created.json()) as { id: string };
  const res = await salvo.api(`/api/v3/batches/${id}/items`, {
    method: "POST",
    headers: { "content-type": "application/x-ndjson" },
    body: ndjson(
      items.map((i, index) => ({
        index,
        task: i.task,
        payload: {},
        ...(i.key ? { options: { idempotencyKey: i.key } } : {}),
      })),
    ),
  });
  expect(res.status).toBe(200);
  return id;
};

describe.skipIf(!databaseUrl)("a batch reusing runs counts them whatever the interleaving (needs DATABASE_URL)", () => {
  for (const [kind, add] of [
    ["one-shot", oneShot],
    ["two-phase", twoPhase],
  ] as const) {
    it(`${kind}: the shared run completes while the referencing batch's transaction is in flight`, async () => {
      const task = unique("shared");
      const key = unique("key");
      const a = await add([{ task, key }]);
      const run = await claimOne("w-during", task);

      const held = gate();
      testHooks.afterRunsCreated = (_id, trx) => held.hold(trx);
      const b = track(add([{ task, key }, { task }]));
      await held.arrived(1);
      testHooks.afterRunsCreated = undefined;
      const report = track(
        client.worker.complete.mutate({ workerId: "w-during", runId: run.id, claimId: run.claimId, output: "shared" }),
      );
      await until(
        async () => report.settled || (await blockedBy(salvo.deps.db, held.pids[0]!)) >= 1,
        "the report waits for the batch's transaction",
      );
      held.open();
      const batchId = await b.value();
      expect(await report.value()).toEqual({ accepted: true });

      await drain("w-during", task);
      await expectCompleted(a);
      await expectCompleted(batchId);
    });
  }

  it("two-phase: a later chunk reusing the batch's own run (by key) while a worker completes it", async () => {
    const task = unique("own");
    const key = unique("key");
    const created = await salvo.api("/api/v3/batches", { json: { runCount: 2 } });
    const { id } = (await created.json()) as { id: string };
    const send = (index: number) =>
      salvo.api(`/api/v3/batches/${id}/items`, {
        method: "POST",
        headers: { "content-type": "application/x-ndjson" },
        body: ndjson([{ index, task, payload: {}, options: { idempotencyKey: key } }]),
      });
    expect((await send(0)).status).toBe(200);
    const run = await claimOne("w-own", task);

    const held = gate();
    testHooks.afterRunsCreated = (_id, trx) => held.hold(trx);
    const second = track(send(1));
    await held.arrived(1);
    testHooks.afterRunsCreated = undefined;
    const report = track(client.worker.complete.mutate({ workerId: "w-own", runId: run.id, claimId: run.claimId }));
    await until(
      async () => report.settled || (await blockedBy(salvo.deps.db, held.pids[0]!)) >= 1,
      "the report waits for the chunk",
    );
    held.open();
    expect((await second.value()).status).toBe(200);
    expect(await report.value()).toEqual({ accepted: true });
    const row = await batchRow(id);
    expect(row).toMatchObject({ status: "COMPLETED", finished_item_count: 2, successful_run_count: 2 });
  });

  it("several batches referencing one run while it completes are each counted once", async () => {
    const task = unique("many");
    const key = unique("key");
    const a = await oneShot([{ task, key }]);
    const run = await claimOne("w-many", task);

    const held = gate();
    testHooks.afterRunsCreated = (_id, trx) => held.hold(trx);
    const b1 = track(oneShot([{ task, key }]));
    await held.arrived(1);
    const b2 = track(twoPhase([{ task, key }]));
    const first = held.pids[0]!;
    // The second batch either reaches the hook too (both share the run) or waits for the first.
    await until(
      async () => held.pids.length >= 2 || (await blockedBy(salvo.deps.db, first)) >= 1,
      "the second batch is in flight",
    );
    const report = track(client.worker.complete.mutate({ workerId: "w-many", runId: run.id, claimId: run.claimId }));
    await until(
      async () => report.settled || held.pids.length + (await blockedBy(salvo.deps.db, first)) >= 3,
      "the report waits",
    );
    testHooks.afterRunsCreated = undefined;
    held.open();
    const ids = [await b1.value(), await b2.value()];
    expect(await report.value()).toEqual({ accepted: true });
    for (const batchId of [a, ...ids]) await expectCompleted(batchId);
  });

  for (const ending of ["fails", "is canceled"] as const) {
    it(`the shared run ${ending} while the referencing batch's transaction is in flight`, async () => {
      const task = unique(ending === "fails" ? "fails" : "canceled");
      const key = unique("key");
      const a = await oneShot([{ task, key }]);
      const run = await claimOne("w-end", task);

      const held = gate();
      testHooks.afterRunsCreated = (_id, trx) => held.hold(trx);
      const b = track(twoPhase([{ task, key }]));
      await held.arrived(1);
      testHooks.afterRunsCreated = undefined;
      const end = track<unknown>(
        ending === "fails"
          ? client.worker.fail.mutate({
              workerId: "w-end",
              runId: run.id,
              claimId: run.claimId,
              error: { name: "Error", message: "no" },
              retry: false,
            })
          : client.run.cancel.mutate({ runId: run.id }),
      );
      await until(
        async () => end.settled || (await blockedBy(salvo.deps.db, held.pids[0]!)) >= 1,
        "the ending waits for the batch",
      );
      held.open();
      const batchId = await b.value();
      await end.value();
      await expectCompleted(a);
      await expectCompleted(batchId);
    });
  }

  it("the shared run expires while the referencing batch's transaction holds it", async () => {
    const task = unique("expires");
    const key = unique("key");
    const { batchId: a } = await client.batch.trigger.mutate({
      items: [{ task, payload: {}, options: { idempotencyKey: key, ttl: 1 } }],
    });
    const held = gate();
    testHooks.afterRunsCreated = (_id, trx) => held.hold(trx);
    const b = track(oneShot([{ task, key }]));
    await held.arrived(1);
    testHooks.afterRunsCreated = undefined;
    // Past the TTL while held: the expiry sweep skips the locked run until the batch commits.
    await new Promise((r) => setTimeout(r, 1_300));
    held.open();
    const batchId = await b.value();
    await until(async () => (await batchRow(batchId)).status === "COMPLETED", "the referencing batch completes", 5_000);
    await expectCompleted(a);
    await expectCompleted(batchId);
  });

  it("the shared run finishes before, or after, the referencing batch", async () => {
    const task = unique("before-after");
    const [k1, k2] = [unique("key"), unique("key")];
    const a = await oneShot([
      { task, key: k1 },
      { task, key: k2 },
    ]);
    await client.worker.register.mutate({ workerId: "w-ba", tasks: [task] });
    const runs = await client.worker.dequeue.mutate({ workerId: "w-ba", tasks: [task], max: 2 });
    const byKeyFirst = runs.sort((x, y) => x.batchIndex! - y.batchIndex!);
    await client.worker.complete.mutate({
      workerId: "w-ba",
      runId: byKeyFirst[0]!.id,
      claimId: byKeyFirst[0]!.claimId,
    });
    const b = await twoPhase([
      { task, key: k1 },
      { task, key: k2 },
    ]);
    await client.worker.complete.mutate({
      workerId: "w-ba",
      runId: byKeyFirst[1]!.id,
      claimId: byKeyFirst[1]!.claimId,
    });
    await expectCompleted(a);
    await expectCompleted(b);
  });
});
