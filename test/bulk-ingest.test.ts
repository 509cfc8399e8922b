import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ndjson, startTestSalvo, type TestSalvo } from "./support/salvo.js";

/**
 * The bulk write path (runs and batch items written as arrays, idempotency resolved after the
 * insert, one `runs.created` event per chunk). A chunk size of 3 makes every stream cross chunks.
 */
let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo({ SALVO_INGEST_CHUNK_ITEMS: "3" });
});
afterAll(() => salvo?.close());

async function oneShot(items: unknown[]) {
  const res = await salvo.api("/api/v1/tasks/batch", { json: { items } });
  expect(res.status).toBe(200);
  return (await res.json()) as { batchId: string; runs: string[] };
}

async function getRun(id: string) {
  const res = await salvo.api(`/api/v3/runs/${id}`);
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

async function twoPhase(runCount: number) {
  const res = await salvo.api("/api/v3/batches", { json: { runCount } });
  expect(res.status).toBe(202);
  return String(((await res.json()) as { id: string }).id);
}

const stream = (batchId: string, body: string) =>
  salvo.api(`/api/v3/batches/${batchId}/items`, {
    method: "POST",
    headers: { "content-type": "application/x-ndjson" },
    body,
  });

const unique = () => `k-${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;

describe("bulk run insert", () => {
  it("stores every option exactly, including tags that need quoting in an array literal", async () => {
    const tags = ['a "quoted" tag', "back\\slash", "comma,brace{}", "ünï"];
    const { runs } = await oneShot([
      {
        task: "t-opts",
        payload: { n: 1, s: "x\ty" },
        options: { tags, metadata: { m: [1, 2] }, ttl: "1h", maxAttempts: 3, concurrencyKey: 7 },
      },
      { task: "t-opts", options: { delay: "2h", tags: "single" } },
    ]);
    const first = await getRun(runs[0]!);
    expect(first).toMatchObject({
      taskIdentifier: "t-opts",
      status: "QUEUED",
      tags,
      metadata: { m: [1, 2] },
      ttl: "1h",
      payload: { n: 1, s: "x\ty" },
    });
    const second = await getRun(runs[1]!);
    expect(second).toMatchObject({ status: "DELAYED", tags: ["single"] });
    expect(second.payload).toBeUndefined();
    expect(new Date(String(second.delayedUntil)).getTime()).toBeGreaterThan(Date.now() + 3600_000);
  });

  it("resolves repeated idempotency keys, within one request and across requests", async () => {
    const key = unique();
    const first = await oneShot([
      { task: "t-idem", payload: 1, options: { idempotencyKey: key } },
      { task: "t-idem", payload: 2, options: { idempotencyKey: key } },
      { task: "t-other", payload: 3, options: { idempotencyKey: key } },
    ]);
    expect(first.runs[1]).toBe(first.runs[0]);
    expect(first.runs[2]).not.toBe(first.runs[0]);
    const again = await oneShot([
      { task: "t-idem", options: { idempotencyKey: key } },
      { task: "t-other", options: { idempotencyKey: key } },
    ]);
    expect(again.runs).toEqual([first.runs[0], first.runs[2]]);
  });

  it("gives a key up when its run failed or its key TTL is over, and makes a new run", async () => {
    const failedKey = unique();
    const expiredKey = unique();
    const { runs } = await oneShot([
      { task: "t-release", options: { idempotencyKey: failedKey } },
      { task: "t-release", options: { idempotencyKey: expiredKey } },
    ]);
    // Fixture: the states a worker or the key's TTL would bring about.
    await salvo.deps.db.updateTable("runs").set({ status: "FAILED" }).where("id", "=", runs[0]!).execute();
    await salvo.deps.db
      .updateTable("runs")
      .set({ idempotency_key_expires_at: new Date(Date.now() - 1000) })
      .where("id", "=", runs[1]!)
      .execute();
    const again = await oneShot([
      { task: "t-release", options: { idempotencyKey: failedKey } },
      { task: "t-release", options: { idempotencyKey: expiredKey } },
    ]);
    expect(again.runs[0]).not.toBe(runs[0]);
    expect(again.runs[1]).not.toBe(runs[1]);
    expect((await getRun(again.runs[0]!)).idempotencyKey).toBe(failedKey);
    expect((await getRun(runs[0]!)).idempotencyKey).toBeUndefined();
  });

  it("announces a batch's runs with runs.created events whose counts add up, and a single run with run.created", async () => {
    const batchId = await twoPhase(7);
    const items = Array.from({ length: 7 }, (_, i) => ({
      index: i,
      task: i % 2 ? "t-odd" : "t-even",
      options: i === 6 ? { delay: "1h" } : undefined,
    }));
    const res = await stream(batchId, ndjson(items));
    expect(await res.json()).toEqual({ id: batchId, itemsAccepted: 7, itemsDeduplicated: 0, sealed: true });
    const { rows } = await sql<{
      data: { count: number; byStatus: Record<string, number>; byTask: Record<string, number> };
    }>`
      select data from events where batch_id = ${batchId} and type = 'runs.created' order by id`.execute(salvo.deps.db);
    expect(rows.map((r) => r.data.count)).toEqual([3, 3, 1]);
    const sum = (pick: (d: (typeof rows)[number]["data"]) => Record<string, number>) =>
      rows.reduce<Record<string, number>>((acc, r) => {
        for (const [k, v] of Object.entries(pick(r.data))) acc[k] = (acc[k] ?? 0) + v;
        return acc;
      }, {});
    expect(sum((d) => d.byStatus)).toEqual({ QUEUED: 6, DELAYED: 1 });
    expect(sum((d) => d.byTask)).toEqual({ "t-even": 4, "t-odd": 3 });

    const single = await salvo.api("/api/v1/tasks/t-single/trigger", { json: { payload: {} } });
    const { id } = (await single.json()) as { id: string };
    const { rows: own } = await sql<{ type: string }>`select type from events where run_id = ${id}`.execute(
      salvo.deps.db,
    );
    expect(own.map((r) => r.type)).toEqual(["run.created"]);
  });
});

describe("streamed items across chunks", () => {
  it("dedupes a resent stream by index, whatever chunk the repeats land in", async () => {
    const batchId = await twoPhase(8);
    const items = Array.from({ length: 8 }, (_, i) => ({ index: i, task: "t-chunks", payload: { i } }));
    let res = await stream(batchId, ndjson([items[5], items[0], items[2], items[0]]));
    expect(await res.json()).toEqual({
      id: batchId,
      itemsAccepted: 3,
      itemsDeduplicated: 1,
      sealed: false,
      enqueuedCount: 3,
      expectedCount: 8,
    });
    res = await stream(batchId, ndjson(items));
    expect(await res.json()).toEqual({ id: batchId, itemsAccepted: 5, itemsDeduplicated: 3, sealed: true });
    const batch = await salvo.api(`/api/v1/batches/${batchId}`);
    const body = (await batch.json()) as { runs: string[]; status: string };
    expect(new Set(body.runs).size).toBe(8);
    const run = await getRun(body.runs[5]!);
    expect(run.payload).toEqual({ i: 5 });
  });

  it("fails on a bad line with 400 naming it, keeping the chunks committed before it", async () => {
    const batchId = await twoPhase(10);
    const good = Array.from({ length: 6 }, (_, i) => JSON.stringify({ index: i, task: "t-bad" }));
    const body = `${[...good, "{not json", JSON.stringify({ index: 7, task: "t-bad" })].join("\n")}\n`;
    const res = await stream(batchId, body);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: expect.stringContaining("line 7") });
    const again = await stream(batchId, ndjson(Array.from({ length: 10 }, (_, i) => ({ index: i, task: "t-bad" }))));
    expect(await again.json()).toEqual({ id: batchId, itemsAccepted: 4, itemsDeduplicated: 6, sealed: true });
  });

  it("names the line of an invalid item in a later chunk", async () => {
    const batchId = await twoPhase(10);
    const items: unknown[] = Array.from({ length: 10 }, (_, i) => ({ index: i, task: "t-invalid" }));
    items[7] = { index: 7, task: "" };
    const res = await stream(batchId, ndjson(items));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/^Invalid item at line 8: /);
  });
});
