import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorBody, startTestSalvo, type TestSalvo } from "./support/salvo.js";

// One-shot batches: POST /api/v1/tasks/{task}/batch and POST /api/v1/tasks/batch.
let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo();
});
afterAll(() => salvo?.close());

type Answer = { batchId: string; runs: string[] };
const RUN_ID = /^run_[1-9a-km-z]{21}$/;

async function oneTask(task: string, items: unknown, key = salvo.key) {
  const res = await salvo.api(`/api/v1/tasks/${task}/batch`, {
    json: { items },
    headers: { authorization: `Bearer ${key}` },
  });
  return { res, body: (await res.json()) as Answer & { error?: string } };
}
async function multiTask(items: unknown) {
  const res = await salvo.api("/api/v1/tasks/batch", { json: { items } });
  return { res, body: (await res.json()) as Answer & { error?: string } };
}
async function run(id: string, key = salvo.key) {
  const res = await salvo.api(`/api/v3/runs/${id}`, { headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
/** Expects a 400 whose error mentions `pattern`. */
async function rejected(options: unknown, pattern: RegExp) {
  const { res, body } = await oneTask("opt", [{ payload: {}, options }]);
  expect(res.status, JSON.stringify(options)).toBe(400);
  expect(Object.keys(body)).toEqual(["error", "message"]);
  expect(body.error).toMatch(pattern);
}
async function accepted(options: unknown) {
  const { res, body } = await oneTask("opt", [{ payload: {}, options }]);
  expect(res.status, `${JSON.stringify(options)} → ${JSON.stringify(body)}`).toBe(200);
  return (await run(body.runs[0]!)).body;
}

describe("sizes", () => {
  it("1 item: {batchId, runs} with a run retrievable at once", async () => {
    const { res, body } = await oneTask("send-email", [{ payload: { to: "a@b.c" } }]);
    expect(res.status).toBe(200);
    expect(Object.keys(body).sort()).toEqual(["batchId", "runs"]);
    expect(body.batchId).toMatch(/^batch_[1-9a-km-z]{21}$/);
    expect(body.runs).toHaveLength(1);
    expect(body.runs[0]).toMatch(RUN_ID);
    const r = await run(body.runs[0]!);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      id: body.runs[0],
      status: "QUEUED",
      taskIdentifier: "send-email",
      batchId: body.batchId,
      payload: { to: "a@b.c" },
    });
  });

  it("1,000 items: 1,000 distinct run ids in item order", async () => {
    const items = Array.from({ length: 1000 }, (_, i) => ({ payload: { i } }));
    const { res, body } = await oneTask("bulk", items);
    expect(res.status).toBe(200);
    expect(body.runs).toHaveLength(1000);
    expect(new Set(body.runs).size).toBe(1000);
    for (const i of [0, 1, 499, 999]) {
      const r = await run(body.runs[i]!);
      expect(r.status).toBe(200);
      expect(r.body.payload).toEqual({ i });
    }
  });

  it("0 items → 400 No items to trigger; 1,001 → 400 naming the maximum", async () => {
    let r = await oneTask("t", []);
    expect(r.res.status).toBe(400);
    expect(r.body).toEqual(errorBody("No items to trigger"));
    r = await multiTask([]);
    expect(r.res.status).toBe(400);
    expect(r.body).toEqual(errorBody("No items to trigger"));

    r = await oneTask(
      "t",
      Array.from({ length: 1001 }, () => ({ payload: 1 })),
    );
    expect(r.res.status).toBe(400);
    expect(r.body).toEqual(errorBody("Too many items. Maximum allowed batch size is 1000."));
  });

  it("items missing or not an array → 400", async () => {
    for (const [items, received] of [
      [undefined, "undefined"],
      ["x", "string"],
      [{ a: 1 }, "object"],
    ]) {
      const r = await oneTask("t", items);
      expect(r.res.status).toBe(400);
      expect(r.body.error).toBe(`Invalid request: items: Invalid input: expected array, received ${received}`);
    }
  });
});

describe("multi-task form", () => {
  it("requires task on each item", async () => {
    const r = await multiTask([{ task: "a", payload: 1 }, { payload: 2 }]);
    expect(r.res.status).toBe(400);
    expect(r.body.error).toMatch(/items\[1\]\.task: task is required/);
  });

  it("creates runs of each task, in order", async () => {
    const r = await multiTask([
      { task: "a", payload: 0 },
      { task: "b", payload: 1 },
      { task: "a", payload: 2 },
    ]);
    expect(r.res.status).toBe(200);
    const runs = await Promise.all(r.body.runs.map((id) => run(id)));
    expect(runs.map((x) => [x.body.taskIdentifier, x.body.payload])).toEqual([
      ["a", 0],
      ["b", 1],
      ["a", 2],
    ]);
  });
});

describe("item options as documented", () => {
  it("queue.concurrencyLimit 0..1000", async () => {
    await accepted({ queue: { name: "q", concurrencyLimit: 0 } });
    await accepted({ queue: { name: "q2", concurrencyLimit: 1000 } });
    await rejected({ queue: { name: "q", concurrencyLimit: 1001 } }, /concurrencyLimit/);
    await rejected({ queue: { name: "q", concurrencyLimit: -1 } }, /concurrencyLimit/);
    // The accepted limits are the queues' limits; the refused ones changed nothing.
    const queues = await salvo.deps.db
      .selectFrom("queues")
      .select(["name", "concurrency_limit"])
      .where("environment_id", "=", salvo.env.environmentId)
      .where("name", "in", ["q", "q2"])
      .orderBy("name")
      .execute();
    expect(queues).toEqual([
      { name: "q", concurrency_limit: 0 },
      { name: "q2", concurrency_limit: 1000 },
    ]);
  });

  it("ttl: a duration string or seconds ≥ 1", async () => {
    expect((await accepted({ ttl: "1h42m" })).ttl).toBe("1h42m");
    expect((await accepted({ ttl: 60 })).ttl).toBe("1m");
    expect((await accepted({ ttl: 3661 })).ttl).toBe("1h1m1s");
    await rejected({ ttl: 0 }, /ttl/);
    await rejected({ ttl: "soon" }, /ttl/);
  });

  it("delay: a duration or a date; garbage is refused", async () => {
    const delayed = await accepted({ delay: "1h" });
    expect(delayed.status).toBe("DELAYED");
    expect(new Date(delayed.delayedUntil as string).getTime()).toBeGreaterThan(Date.now() + 59 * 60_000);
    const at = new Date(Date.now() + 86_400_000).toISOString();
    const dated = await accepted({ delay: at });
    expect(dated.status).toBe("DELAYED");
    expect(new Date(dated.delayedUntil as string).toISOString()).toBe(at);
    await rejected({ delay: "tomorrow-ish" }, /delay must be a duration/);
  });

  it("tags: a string or an array; 5 ok, 6 refused; 63 characters ok, 64 refused", async () => {
    expect((await accepted({ tags: "solo" })).tags).toEqual(["solo"]);
    expect((await accepted({ tags: ["a", "b", "c", "d", "e"] })).tags).toEqual(["a", "b", "c", "d", "e"]);
    await rejected({ tags: ["a", "b", "c", "d", "e", "f"] }, /at most 5 tags/);
    expect((await accepted({ tags: ["x".repeat(63)] })).tags).toEqual(["x".repeat(63)]);
    await rejected({ tags: ["x".repeat(64)] }, /less than 64 characters/);
  });

  it("tolerates options the SDK sends that Salvo does not use", async () => {
    const r = await accepted({
      machine: "small-1x",
      priority: 10,
      lockToVersion: "20250101.1",
      idempotencyKeyOptions: { key: ["a"], scope: "global" },
      metadata: { a: 1 },
      maxAttempts: 2,
    });
    expect(r.metadata).toEqual({ a: 1 });
  });
});

describe("item idempotency", () => {
  it("a repeated key returns the existing run, also twice within one request", async () => {
    const first = await oneTask("idem", [{ payload: 1, options: { idempotencyKey: "k-1" } }]);
    const again = await oneTask("idem", [
      { payload: 2, options: { idempotencyKey: "k-1" } },
      { payload: 3, options: { idempotencyKey: "k-2" } },
      { payload: 4, options: { idempotencyKey: "k-2" } },
    ]);
    expect(again.res.status).toBe(200);
    expect(again.body.runs[0]).toBe(first.body.runs[0]);
    expect(again.body.runs[2]).toBe(again.body.runs[1]);
    expect(again.body.runs[1]).not.toBe(first.body.runs[0]);
    expect((await run(again.body.runs[0]!)).body.payload).toBe(1);
  });

  it("is scoped to the task and to the environment", async () => {
    const first = await oneTask("idem-a", [{ payload: 1, options: { idempotencyKey: "shared" } }]);
    const otherTask = await oneTask("idem-b", [{ payload: 1, options: { idempotencyKey: "shared" } }]);
    expect(otherTask.body.runs[0]).not.toBe(first.body.runs[0]);

    const env = await salvo.newEnvironment();
    const otherEnv = await oneTask("idem-a", [{ payload: 1, options: { idempotencyKey: "shared" } }], env.secretKey);
    expect(otherEnv.res.status).toBe(200);
    expect(otherEnv.body.runs[0]).not.toBe(first.body.runs[0]);
    // And each environment sees only its own run.
    expect((await run(first.body.runs[0]!, env.secretKey)).status).toBe(404);
  });
});
