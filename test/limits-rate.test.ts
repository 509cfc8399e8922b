import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";

// A small bucket so tests reach the limit quickly: 10 items, +5 a minute. The slow refill keeps a
// busy machine from refilling a bucket between a test's requests; the refill test has its own.
const INTERVAL_MS = 60_000;
const LIMITS = {
  SALVO_BATCH_RATE_LIMIT_MAX: "10",
  SALVO_BATCH_RATE_LIMIT_REFILL: "5",
  SALVO_BATCH_RATE_LIMIT_INTERVAL_MS: String(INTERVAL_MS),
};

let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo(LIMITS);
});
afterAll(() => salvo?.close());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A fresh environment (its own bucket) and a fetch with its key. */
async function freshEnv(on = salvo) {
  const env = await on.newEnvironment();
  const api = (path: string, json: unknown) =>
    fetch(on.url + path, {
      method: "POST",
      headers: { authorization: `Bearer ${env.secretKey}`, "content-type": "application/json" },
      body: JSON.stringify(json),
    });
  return { env, api };
}

const batchCount = (s: TestSalvo, environmentId: string) =>
  s.deps.db
    .selectFrom("batches")
    .select((eb) => eb.fn.countAll<number>().as("n"))
    .where("environment_id", "=", environmentId)
    .executeTakeFirstOrThrow()
    .then((r) => Number(r.n));

const items = (n: number) => Array.from({ length: n }, (_, i) => ({ task: "t", payload: { i } }));

describe("batch rate limit", () => {
  it("lets a batch larger than the whole bucket through when the bucket is full, then waits out the debt", async () => {
    const { api } = await freshEnv();
    expect((await api("/api/v3/batches", { runCount: 25 })).status).toBe(202);
    const after = await api("/api/v3/batches", { runCount: 1 });
    expect(after.status).toBe(429);
    expect(after.headers.get("x-ratelimit-remaining")).toBe("0");
    // Half full is not enough for another oversized batch.
    const { api: other } = await freshEnv();
    expect((await other("/api/v3/batches", { runCount: 6 })).status).toBe(202);
    expect((await other("/api/v3/batches", { runCount: 25 })).status).toBe(429);
  });

  it("answers 429 with exact headers and body; the rejection takes nothing and writes nothing", async () => {
    const { env, api } = await freshEnv();
    expect((await api("/api/v3/batches", { runCount: 8 })).status).toBe(202);

    const before = Date.now();
    const res = await api("/api/v3/batches", { runCount: 5 });
    const after = Date.now();
    expect(res.status).toBe(429);
    const body = (await res.json()) as { error: string };
    const message = /^Batch rate limit exceeded\. Limit resets at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)$/;
    expect(body.error).toMatch(message);
    expect(Object.keys(body)).toEqual(["error", "message"]);
    const resetMs = Date.parse(message.exec(body.error)![1]!);
    expect(res.headers.get("x-ratelimit-limit")).toBe("10");
    expect(res.headers.get("x-ratelimit-remaining")).toBe("2");
    expect(res.headers.get("x-ratelimit-reset")).toBe(String(Math.floor(resetMs / 1000)));
    // The next refill is still ahead, at most one interval after the request was decided.
    expect(resetMs).toBeGreaterThan(before);
    expect(resetMs).toBeLessThanOrEqual(after + INTERVAL_MS);
    // Whole seconds until the refill, rounded up, counted from some moment of the request.
    const retryAfter = Number(res.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(Math.max(1, Math.ceil((resetMs - after) / 1000)));
    expect(retryAfter).toBeLessThanOrEqual(Math.ceil((resetMs - before) / 1000));
    expect(await batchCount(salvo, env.environmentId)).toBe(1);

    // The 5 were not taken: the 2 left still fit.
    expect((await api("/api/v3/batches", { runCount: 2 })).status).toBe(202);
    const empty = await api("/api/v3/batches", { runCount: 1 });
    expect(empty.status).toBe(429);
    expect(empty.headers.get("x-ratelimit-remaining")).toBe("0");
    expect(await batchCount(salvo, env.environmentId)).toBe(2);
  });

  it("charges one-shot batches by item count, on every one-shot route", async () => {
    const { env, api } = await freshEnv();
    expect((await api("/api/v1/tasks/t/batch", { items: items(6) })).status).toBe(200);
    const res = await api("/api/v1/tasks/batch", { items: items(5) });
    expect(res.status).toBe(429);
    expect(res.headers.get("x-ratelimit-remaining")).toBe("4");
    expect((await api("/api/v2/tasks/batch", { items: items(5) })).status).toBe(429);
    expect((await api("/api/v2/tasks/batch", { items: items(4) })).status).toBe(202);
    const runs = await salvo.deps.db
      .selectFrom("runs")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("environment_id", "=", env.environmentId)
      .executeTakeFirstOrThrow();
    expect(Number(runs.n)).toBe(10);
  });

  it("does not charge an idempotent replay", async () => {
    const { api } = await freshEnv();
    expect((await api("/api/v3/batches", { runCount: 10, idempotencyKey: "k1" })).status).toBe(202);
    const again = await api("/api/v3/batches", { runCount: 10, idempotencyKey: "k1" });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { isCached: boolean }).isCached).toBe(true);
  });

  it("refills by whole intervals", async () => {
    // Short enough to wait for, long enough that the requests after the refill fit in one interval.
    const fast = await startTestSalvo({ ...LIMITS, SALVO_BATCH_RATE_LIMIT_INTERVAL_MS: "4000" });
    try {
      const { api } = await freshEnv(fast);
      expect((await api("/api/v3/batches", { runCount: 10 })).status).toBe(202);
      const denied = await api("/api/v3/batches", { runCount: 5 });
      expect(denied.status).toBe(429);
      const resetMs = Number(denied.headers.get("x-ratelimit-reset")) * 1000;
      await sleep(Math.max(0, resetMs + 1000 - Date.now()) + 100);
      expect((await api("/api/v3/batches", { runCount: 5 })).status).toBe(202);
      expect((await api("/api/v3/batches", { runCount: 1 })).status).toBe(429);
    } finally {
      await fast.close();
    }
  });

  it("takes a per-environment override from environment_limits, and without its row the default", async () => {
    const { env, api } = await freshEnv();
    const limits = () => salvo.deps.db.deleteFrom("environment_limits").where("environment_id", "=", env.environmentId);
    await salvo.deps.db
      .insertInto("environment_limits")
      .values({
        environment_id: env.environmentId,
        batch_rate_limit_max: 3,
        batch_rate_limit_refill: 1,
        batch_rate_limit_interval_ms: 60_000,
      })
      .execute();
    expect((await api("/api/v3/batches", { runCount: 1 })).status).toBe(202);
    const res = await api("/api/v3/batches", { runCount: 3 });
    expect(res.status).toBe(429);
    expect(res.headers.get("x-ratelimit-limit")).toBe("3");
    await limits().execute();
    const limit = await api("/api/v3/batches", { runCount: 11 });
    expect(limit.status).toBe(429);
    expect(limit.headers.get("x-ratelimit-limit")).toBe("10");
  });

  it("tRPC: TOO_MANY_REQUESTS with the same numbers in error.data.rateLimit", async () => {
    const { api } = await freshEnv();
    expect((await api("/trpc/batch.create", { json: { runCount: 9 } })).status).toBe(200);
    const res = await api("/trpc/batch.create", { json: { runCount: 2 } });
    expect(res.status).toBe(429);
    const { error } = (await res.json()) as { error: { json: { message: string; data: Record<string, unknown> } } };
    expect(error.json.message).toMatch(/^Batch rate limit exceeded\. Limit resets at /);
    expect(error.json.data.code).toBe("TOO_MANY_REQUESTS");
    const rateLimit = error.json.data.rateLimit as {
      limit: number;
      remaining: number;
      reset: number;
      retryAfter: number;
    };
    expect(rateLimit.limit).toBe(10);
    expect(rateLimit.remaining).toBe(1);
    expect(rateLimit.reset).toBe(Math.floor(Date.parse(error.json.message.split(" at ")[1]!) / 1000));
    expect(rateLimit.retryAfter).toBeGreaterThanOrEqual(1);
    expect(rateLimit.retryAfter).toBeLessThanOrEqual(INTERVAL_MS / 1000);
  });

  const shared = process.env.REDIS_URL && process.env.DATABASE_URL;
  it.skipIf(!shared)(
    "two server instances share one bucket through Redis (needs REDIS_URL and DATABASE_URL)",
    async () => {
      const other = await startTestSalvo(LIMITS);
      try {
        const { env, api } = await freshEnv();
        const onOther = (json: unknown) =>
          fetch(`${other.url}/api/v3/batches`, {
            method: "POST",
            headers: { authorization: `Bearer ${env.secretKey}`, "content-type": "application/json" },
            body: JSON.stringify(json),
          });
        expect((await api("/api/v3/batches", { runCount: 7 })).status).toBe(202);
        const res = await onOther({ runCount: 4 });
        expect(res.status).toBe(429);
        expect(res.headers.get("x-ratelimit-remaining")).toBe("3");
        expect((await onOther({ runCount: 3 })).status).toBe(202);
        expect((await api("/api/v3/batches", { runCount: 1 })).status).toBe(429);
      } finally {
        await other.close();
      }
    },
  );
});

describe("batch rate limit without a reachable Redis", () => {
  it("fails open: batches are accepted while Redis is down", async () => {
    // Port 1: nothing listens there, so every limiter call fails.
    const down = await startTestSalvo({ ...LIMITS, REDIS_URL: "redis://127.0.0.1:1" });
    try {
      const res = await down.api("/api/v3/batches", { json: { runCount: 10 } });
      expect(res.status).toBe(202);
      expect((await down.api("/api/v3/batches", { json: { runCount: 10 } })).status).toBe(202);
    } finally {
      await down.close();
    }
  });
});
