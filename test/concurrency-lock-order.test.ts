import { sql } from "kysely";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createSalvoClient } from "../client/index.js";
import { transaction } from "../db/transaction.js";
import { blockedBy, lockHolder, track, until } from "./support/interleave.js";
import { ndjson, startTestSalvo, type TestSalvo } from "./support/salvo.js";

/**
 * The deadlocks two requests could reach by taking the same two locks in opposite orders, each
 * forced deterministically: a second connection holds a row so that one request stops between
 * its two locks; the competing request is then sent, and the row released. With one lock order
 * (docs/ARCHITECTURE.md) neither request fails, and every counter ends exact.
 */
const databaseUrl = process.env.DATABASE_URL;
let salvo: TestSalvo;
let client: ReturnType<typeof createSalvoClient>;
let holder: Awaited<ReturnType<typeof lockHolder>>;
beforeAll(async () => {
  if (!databaseUrl) return;
  salvo = await startTestSalvo();
  client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
  holder = await lockHolder(databaseUrl);
});
afterAll(async () => {
  await holder?.close();
  await salvo?.close();
});
afterEach(async () => {
  await holder?.release().catch(() => {});
});

let serial = 0;
const unique = (what: string) => `${what}-${Date.now().toString(36)}-${serial++}`;
const blocked = () => blockedBy(salvo.deps.db, holder.pid);

async function batchRow(batchId: string) {
  return salvo.deps.db
    .selectFrom("batches")
    .select(["status", "finished_item_count", "successful_run_count"])
    .where("id", "=", batchId)
    .executeTakeFirstOrThrow();
}

/** Claims and completes every queued run of the tasks, then checks each batch COMPLETED with exact counts. */
async function drainAndCheck(workerId: string, tasks: string[], batchIds: string[]) {
  await client.worker.register.mutate({ workerId, tasks });
  for (;;) {
    const runs = await client.worker.dequeue.mutate({ workerId, tasks, max: 100 });
    if (runs.length === 0) break;
    await client.worker.report.mutate({
      workerId,
      completed: runs.map((r) => ({ runId: r.id, claimId: r.claimId })),
      failed: [],
    });
  }
  for (const id of batchIds) {
    const row = await batchRow(id);
    expect(row.status).toBe("COMPLETED");
    expect(row.finished_item_count).toBe(row.successful_run_count);
  }
}

async function createTwoPhase(runCount: number) {
  const res = await salvo.api("/api/v3/batches", { json: { runCount } });
  return ((await res.json()) as { id: string }).id;
}
const sendItems = (batchId: string, items: unknown[]) =>
  salvo.api(`/api/v3/batches/${batchId}/items`, {
    method: "POST",
    headers: { "content-type": "application/x-ndjson" },
    body: ndjson(items),
  });

describe.skipIf(!databaseUrl)("one lock order: no deadlock between requests (needs DATABASE_URL)", () => {
  it("finding 1: a stream's chunk and a worker's dequeue completing a run of the same batch", async () => {
    const [task, other, queue, key] = [unique("f1"), unique("f1-other"), unique("q"), unique("key")];
    const {
      runs: [keyed],
    } = await client.batch.trigger.mutate({ items: [{ task: other, payload: {}, options: { idempotencyKey: key } }] });
    const batchId = await createTwoPhase(3);
    expect(
      (await sendItems(batchId, [{ index: 0, task, payload: {}, options: { queue: { name: queue } } }])).status,
    ).toBe(200);
    await client.batch.trigger.mutate({ items: [{ task, payload: {}, options: { queue: { name: queue } } }] });
    await client.worker.register.mutate({ workerId: "w-f1", tasks: [task] });
    const [first] = await client.worker.dequeue.mutate({ workerId: "w-f1", tasks: [task], max: 1 });

    // The chunk resolves an item to `keyed` and stops there.
    await holder.hold("select id from runs where id = $1 for update", [keyed]);
    const chunk = track(
      sendItems(batchId, [
        { index: 1, task: other, payload: {}, options: { idempotencyKey: key } },
        { index: 2, task, payload: {}, options: { queue: { name: queue } } },
      ]),
    );
    await until(async () => (await blocked()) >= 1, "the chunk waits");
    const dequeue = track(
      client.worker.dequeue.mutate({
        workerId: "w-f1",
        tasks: [task],
        max: 1,
        completed: [{ runId: first!.id, claimId: first!.claimId }],
      }),
    );
    await until(async () => dequeue.settled || (await blocked()) >= 2, "the dequeue is done or waits");
    await holder.release();
    expect((await chunk.value()).status).toBe(200);
    expect(await dequeue.value()).toHaveLength(1);
    await drainAndCheck("w-f1-drain", [task, other], [batchId]);
  });

  it("finding 3: batch.cancel while a worker completes one of its runs", async () => {
    const task = unique("f3");
    const { batchId } = await client.batch.trigger.mutate({
      items: [
        { task, payload: {} },
        { task, payload: {} },
      ],
    });
    await client.worker.register.mutate({ workerId: "w-f3", tasks: [task] });
    const claimed = await client.worker.dequeue.mutate({ workerId: "w-f3", tasks: [task], max: 2 });
    expect(claimed).toHaveLength(2);

    await holder.hold("select id from batches where id = $1 for update", [batchId]);
    const cancel = track(client.batch.cancel.mutate({ batchId }));
    await until(async () => (await blocked()) >= 1, "the cancel waits");
    const complete = track(
      client.worker.complete.mutate({ workerId: "w-f3", runId: claimed[1]!.id, claimId: claimed[1]!.claimId }),
    );
    await until(async () => (await blocked()) >= 2, "the completion waits");
    await holder.release();
    const canceled = await cancel.value();
    const completed = await complete.value();
    // Whichever came first, every run was either canceled or completed, and nothing counted twice.
    expect(canceled.canceledRuns + (completed.accepted ? 1 : 0)).toBe(2);
    const row = await batchRow(batchId);
    expect(row).toMatchObject({ status: "COMPLETED", finished_item_count: 2, successful_run_count: 2 });
  });

  it("finding 4: a released idempotency key reused by two batches at once", async () => {
    const [task, key] = [unique("f4"), unique("key")];
    const {
      runs: [dead],
    } = await client.batch.trigger.mutate({ items: [{ task, payload: {}, options: { idempotencyKey: key } }] });
    await client.worker.register.mutate({ workerId: "w-f4", tasks: [task] });
    const [run] = await client.worker.dequeue.mutate({ workerId: "w-f4", tasks: [task], max: 1 });
    await client.worker.fail.mutate({
      workerId: "w-f4",
      runId: run!.id,
      claimId: run!.claimId,
      error: { name: "Error", message: "x" },
      retry: false,
    });

    // Both batches find the dead run and must clear its key: the holder delays them until both have.
    await holder.hold("select id from runs where id = $1 for share", [dead]);
    const trigger = () =>
      track(client.batch.trigger.mutate({ items: [{ task, payload: {}, options: { idempotencyKey: key } }] }));
    const first = trigger();
    await until(async () => (await blocked()) >= 1, "the first batch waits");
    const second = trigger();
    await until(async () => (await blocked()) >= 2, "the second batch waits");
    await holder.release();
    const [a, b] = [await first.value(), await second.value()];
    expect(a.runs[0]).toBe(b.runs[0]);
    expect(a.runs[0]).not.toBe(dead);
  });

  it("finding 5: a one-shot batch reusing a run a worker is finishing", async () => {
    const [task, queue, key, deadKey] = [unique("f5"), unique("q"), unique("key"), unique("key")];
    const inQueue = (idempotencyKey?: string) => ({
      task,
      payload: {},
      options: { queue: { name: queue }, ...(idempotencyKey ? { idempotencyKey } : {}) },
    });
    const { batchId: a } = await client.batch.trigger.mutate({ items: [inQueue(key), inQueue(deadKey)] });
    await client.worker.register.mutate({ workerId: "w-f5", tasks: [task] });
    const [live, dead] = await client.worker.dequeue.mutate({ workerId: "w-f5", tasks: [task], max: 2 });
    await client.worker.fail.mutate({
      workerId: "w-f5",
      runId: dead!.id,
      claimId: dead!.claimId,
      error: { name: "Error", message: "x" },
      retry: false,
    });
    await client.batch.trigger.mutate({ items: [inQueue()] });

    await holder.hold("select id from runs where id = $1 for share", [dead!.id]);
    const batch = track(client.batch.trigger.mutate({ items: [inQueue(key), inQueue(deadKey)] }));
    await until(async () => (await blocked()) >= 1, "the batch waits");
    const dequeue = track(
      client.worker.dequeue.mutate({
        workerId: "w-f5",
        tasks: [task],
        max: 1,
        completed: [{ runId: live!.id, claimId: live!.claimId }],
      }),
    );
    await until(async () => dequeue.settled || (await blocked()) >= 2, "the dequeue is done or waits");
    await holder.release();
    const { batchId: b } = await batch.value();
    await dequeue.value();
    await drainAndCheck("w-f5-drain", [task], [b]);
    // Batch A had one run fail: it ends COMPLETED too (failures are final).
    expect((await batchRow(a)).status).toBe("COMPLETED");
  });

  it("a transaction that loses a deadlock is retried inside the server", async () => {
    let tries = 0;
    let bothIn!: () => void;
    const together = new Promise<void>((resolve) => (bothIn = resolve));
    let arrived = 0;
    const crossed = (first: number, second: number) =>
      transaction(salvo.deps.db, async (trx) => {
        tries++;
        await sql`select pg_advisory_xact_lock(${first})`.execute(trx);
        if (++arrived === 2) bothIn();
        await together;
        await sql`select pg_advisory_xact_lock(${second})`.execute(trx);
        return first;
      });
    const base = 7_000_000 + Math.floor(Math.random() * 1_000_000);
    expect(await Promise.all([crossed(base, base + 1), crossed(base + 1, base)])).toEqual([base, base + 1]);
    expect(tries).toBe(3);
  });
});
