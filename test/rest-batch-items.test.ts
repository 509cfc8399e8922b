import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSalvoClient } from "../client/index.js";
import { errorBody, ndjson, startTestSalvo, type TestSalvo } from "./support/salvo.js";

// POST /api/v3/batches/{id}/items: phase 2, NDJSON streamed in bounded chunks.
// Small limits so the chunking and size checks are exercised with small bodies.
let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo({ SALVO_INGEST_CHUNK_ITEMS: "7", SALVO_MAX_ITEM_BYTES: "2048" });
});
afterAll(() => salvo?.close());

async function createBatch(runCount: number): Promise<string> {
  const res = await salvo.api("/api/v3/batches", { json: { runCount } });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

const items = (from: number, to: number, task = "email") =>
  Array.from({ length: to - from }, (_, i) => ({ index: from + i, task, payload: { n: from + i } }));

function post(
  batchId: string,
  body: string | ReadableStream<Uint8Array>,
  contentType = "application/x-ndjson",
  key = salvo.key,
) {
  return salvo.api(`/api/v3/batches/${batchId}/items`, {
    method: "POST",
    headers: { "content-type": contentType, authorization: `Bearer ${key}` },
    body,
    ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
  } as RequestInit);
}

/** A body that really arrives in pieces: each string is its own chunk, sent after a pause. */
function chunkedStream(pieces: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let i = 0;
  return new ReadableStream({
    async pull(controller) {
      if (i >= pieces.length) return controller.close();
      await new Promise((r) => setTimeout(r, 5));
      controller.enqueue(encoder.encode(pieces[i++]!));
    },
  });
}

/** Every batch index with the run it became, straight from the router. */
async function runIndexes(batchId: string): Promise<number[]> {
  const client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
  const indexes: number[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.run.list.query({ batchId, limit: 100, cursor });
    indexes.push(...page.items.map((r) => r.batchIndex!));
    cursor = page.nextCursor;
  } while (cursor);
  return indexes.sort((a, b) => a - b);
}

describe("content types", () => {
  it.each([
    "application/x-ndjson",
    "application/ndjson",
    "application/x-ndjson; charset=utf-8",
    "application/ndjson; charset=utf-8",
  ])("accepts %s", async (type) => {
    const id = await createBatch(1);
    const res = await post(id, ndjson(items(0, 1)), type);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id, itemsAccepted: 1, itemsDeduplicated: 0, sealed: true });
  });

  it.each(["application/json", "text/plain", ""])("answers 415 for %j", async (type) => {
    const id = await createBatch(1);
    const res = await salvo.api(`/api/v3/batches/${id}/items`, {
      method: "POST",
      headers: type ? { "content-type": type } : {},
      body: ndjson(items(0, 1)),
    });
    expect(res.status).toBe(415);
    expect(await res.json()).toEqual(errorBody("Content-Type must be application/x-ndjson or application/ndjson"));
  });
});

describe("streaming", () => {
  it("reads a really chunked body whose lines are split across chunks", async () => {
    const id = await createBatch(3);
    const text = ndjson(items(0, 3));
    // Cut through the middle of lines and of a multi-byte character's neighbours.
    const pieces = [text.slice(0, 5), text.slice(5, 30), text.slice(30, 31), text.slice(31, 60), text.slice(60)];
    const res = await post(id, chunkedStream(pieces));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id, itemsAccepted: 3, itemsDeduplicated: 0, sealed: true });
    expect(await runIndexes(id)).toEqual([0, 1, 2]);
  });

  it("ingests a multi-chunk stream (chunk size 7) with every index exactly once", async () => {
    const id = await createBatch(50);
    const lines = ndjson(items(0, 50)).split("\n");
    const pieces = lines.map((l, i) => (i < lines.length - 1 ? `${l}\n` : l));
    const res = await post(id, chunkedStream(pieces));
    expect(await res.json()).toEqual({ id, itemsAccepted: 50, itemsDeduplicated: 0, sealed: true });
    expect(await runIndexes(id)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it("two concurrent streams of one batch seal it once, with every index once", async () => {
    const id = await createBatch(40);
    // Overlapping halves, each in reverse order of the other, so both streams race on shared indexes.
    const a = items(0, 30);
    const b = items(10, 40).reverse();
    const [ra, rb] = await Promise.all([post(id, chunkedStream([ndjson(a)])), post(id, chunkedStream([ndjson(b)]))]);
    const [ja, jb] = (await Promise.all([ra.json(), rb.json()])) as Record<string, number | boolean>[];
    expect(ra.status).toBe(200);
    expect(rb.status).toBe(200);
    // Exactly 40 distinct items were accepted between them, and the batch is sealed.
    expect(Number(ja!.itemsAccepted) + Number(jb!.itemsAccepted)).toBe(40);
    expect([ja!.sealed, jb!.sealed]).toContain(true);
    expect(await runIndexes(id)).toEqual(Array.from({ length: 40 }, (_, i) => i));
    const client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
    const batch = await client.batch.get.query({ batchId: id });
    expect(batch.sealed).toBe(true);
    expect(batch.runs).toHaveLength(40);
    expect(new Set(batch.runs).size).toBe(40);
  });
});

describe("partial, dedupe, sealed", () => {
  it("counts duplicates, answers sealed:false with counts, and changes nothing after sealing", async () => {
    const id = await createBatch(4);
    let res = await post(id, ndjson([...items(0, 2), ...items(1, 2)]));
    expect(await res.json()).toEqual({
      id,
      itemsAccepted: 2,
      itemsDeduplicated: 1,
      sealed: false,
      enqueuedCount: 2,
      expectedCount: 4,
    });

    res = await post(id, ndjson(items(0, 3)));
    expect(await res.json()).toEqual({
      id,
      itemsAccepted: 1,
      itemsDeduplicated: 2,
      sealed: false,
      enqueuedCount: 3,
      expectedCount: 4,
    });

    res = await post(id, ndjson(items(3, 4)));
    expect(await res.json()).toEqual({ id, itemsAccepted: 1, itemsDeduplicated: 0, sealed: true });
    const before = await runIndexes(id);

    res = await post(id, ndjson(items(0, 4, "other-task")));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ id, itemsAccepted: 0, itemsDeduplicated: 0, sealed: true });
    expect(await runIndexes(id)).toEqual(before);
    const client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
    const runs = await client.run.list.query({ batchId: id });
    expect(runs.items.every((r) => r.taskIdentifier === "email")).toBe(true);
  });

  it("an empty body leaves the batch open", async () => {
    const id = await createBatch(2);
    const res = await post(id, "");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      id,
      itemsAccepted: 0,
      itemsDeduplicated: 0,
      sealed: false,
      enqueuedCount: 0,
      expectedCount: 2,
    });
  });
});

describe("bad lines are 400s naming the line", () => {
  it("an index outside 0..runCount-1", async () => {
    const id = await createBatch(2);
    const res = await post(id, ndjson([...items(0, 1), { index: 2, task: "email" }]));
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual(
      errorBody("Invalid item at line 2: index 2 is outside 0..1 (the batch's runCount is 2)"),
    );
  });

  it("a negative index", async () => {
    const id = await createBatch(2);
    const res = await post(id, ndjson([{ index: -1, task: "email" }]));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/^Invalid item at line 1: index/);
  });

  it("a bad line keeps the chunks committed before it, not its own chunk", async () => {
    const id = await createBatch(10);
    // Chunk size 7: lines 1-7 are committed before line 9 is read; line 8 shares line 9's chunk.
    const res = await post(id, `${ndjson(items(0, 8))}{"index": 8,\n`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/^Invalid JSON at line 9: /);
    expect(await runIndexes(id)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it("malformed JSON", async () => {
    const id = await createBatch(2);
    const res = await post(id, `${JSON.stringify(items(0, 1)[0])}\n{"index": 1, "task": \n`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/^Invalid JSON at line 2: /);
  });

  it("an invalid item (no task, bad options)", async () => {
    const id = await createBatch(3);
    let res = await post(id, ndjson([...items(0, 2), { index: 2, payload: {} }]));
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual(errorBody("Invalid item at line 3: task: task is required"));

    res = await post(id, ndjson([{ index: 0, task: "email", options: { tags: ["a", "b", "c", "d", "e", "f"] } }]));
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(
      /^Invalid item at line 1: options\.tags: .*at most 5 tags/,
    );
  });

  it("a line over the item size limit", async () => {
    const id = await createBatch(2);
    const big = { index: 1, task: "email", payload: { blob: "x".repeat(3000) } };
    const res = await post(id, `${JSON.stringify(items(0, 1)[0])}\n${JSON.stringify(big)}\n`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(
      /^Item at line 2 is (over )?\d+ bytes, larger than the maximum item size of 2048 bytes$/,
    );
  });
});

describe("which batch", () => {
  it("an unknown batch is a 404", async () => {
    const res = await post("batch_doesnotexist1234567890", ndjson(items(0, 1)));
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual(errorBody("Batch batch_doesnotexist1234567890 not found"));
  });

  it("another environment's batch is a 404 and stays untouched", async () => {
    const id = await createBatch(1);
    const other = await salvo.newEnvironment();
    const res = await post(id, ndjson(items(0, 1)), "application/x-ndjson", other.secretKey);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual(errorBody(`Batch ${id} not found`));
    expect(await runIndexes(id)).toEqual([]);
  });
});
