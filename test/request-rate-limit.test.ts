import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSalvoClient } from "../client/index.js";
import { loadConfig } from "../server/config.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";

/** The general per-environment request limit: 5 requests, no refill within the test. */
let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo({
    SALVO_RATE_LIMIT_MAX: "5",
    SALVO_RATE_LIMIT_REFILL: "5",
    SALVO_RATE_LIMIT_INTERVAL_MS: "600000",
  });
});
afterAll(() => salvo?.close());

describe("general request rate limit (per environment)", () => {
  it("single triggers and reads are limited: the sixth request gets 429 with the rate-limit headers", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++)
      statuses.push((await salvo.api("/api/v1/tasks/t/trigger", { json: { payload: { i } } })).status);
    statuses.push((await salvo.api("/api/v3/runs/run_unknown")).status);
    statuses.push((await salvo.api("/api/v1/batches/batch_unknown")).status);
    expect(statuses).toEqual([200, 200, 200, 404, 404]);

    const refused = await salvo.api("/api/v1/tasks/t/trigger", { json: { payload: {} } });
    expect(refused.status).toBe(429);
    const body = (await refused.json()) as { error: string };
    expect(body.error).toMatch(/^Rate limit exceeded\. Limit resets at \d{4}-/);
    expect(refused.headers.get("x-ratelimit-limit")).toBe("5");
    expect(refused.headers.get("x-ratelimit-remaining")).toBe("0");
    const reset = Number(refused.headers.get("x-ratelimit-reset"));
    expect(reset).toBeGreaterThan(Date.now() / 1000);
    expect(reset).toBeLessThan(Date.now() / 1000 + 601);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);

    // Nothing was created by the refused trigger; other routes and tRPC are refused too.
    expect((await salvo.api("/api/v2/packets/a.json", { method: "PUT" })).status).toBe(429);
    const trpc = await salvo.api(`/trpc/run.list?input=${encodeURIComponent(JSON.stringify({ json: {} }))}`);
    expect(trpc.status).toBe(429);
    expect(trpc.headers.get("x-ratelimit-limit")).toBe("5");
    // The same bucket, asked later: no longer to wait than the first refusal said.
    const retryAfter = Number(trpc.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(Number(refused.headers.get("retry-after")));
    const client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
    await expect(client.run.list.query({})).rejects.toMatchObject({
      data: { code: "TOO_MANY_REQUESTS", rateLimit: { limit: 5, remaining: 0 } },
    });
  });

  it("another environment has its own bucket; its public tokens count against it", async () => {
    const other = await salvo.newEnvironment();
    const auth = { authorization: `Bearer ${other.secretKey}` };
    const created = await salvo.api("/api/v3/batches", { json: { runCount: 1 }, headers: auth });
    expect(created.status).toBe(202);
    const jwt = created.headers.get("x-trigger-jwt")!;
    const { id } = (await created.json()) as { id: string };
    const reads: number[] = [];
    for (let i = 0; i < 5; i++)
      reads.push((await salvo.api(`/api/v1/batches/${id}`, { headers: { authorization: `Bearer ${jwt}` } })).status);
    expect(reads).toEqual([200, 200, 200, 200, 429]);
  });

  it("worker traffic (register, dequeue, heartbeat) is not limited: throttling it would only let leases lapse", async () => {
    const env = await salvo.newEnvironment();
    const client = createSalvoClient({ url: salvo.url, apiKey: env.secretKey });
    for (let i = 0; i < 5; i++) await client.run.list.query({});
    await expect(client.run.list.query({})).rejects.toMatchObject({ data: { code: "TOO_MANY_REQUESTS" } });
    const workerId = "worker_rate_test";
    for (let i = 0; i < 10; i++) {
      await client.worker.register.mutate({ workerId, tasks: ["t"] });
      expect(await client.worker.dequeue.mutate({ workerId, tasks: ["t"], max: 1, waitMs: 0 })).toEqual([]);
      await client.worker.heartbeat.mutate({ workerId, runIds: [] });
    }
  });

  it("is generous by default", () => {
    expect(loadConfig({}).limits.requestRateLimit).toEqual({ maxTokens: 3000, refillRate: 1000, intervalMs: 10_000 });
  });
});
