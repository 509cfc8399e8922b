import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSalvoClient } from "../client/index.js";
import { type CreatedEnvironment, createApiKey, revokeApiKey } from "../server/auth/environments.js";
import { hashSecretKey } from "../server/auth/keys.js";
import { errorBody, ndjson, startTestSalvo, type TestSalvo } from "./support/salvo.js";

let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo();
});
afterAll(() => salvo?.close());

const call = (
  key: string,
  path: string,
  init: { json?: unknown; body?: string; contentType?: string; method?: string } = {},
) =>
  fetch(salvo.url + path, {
    method: init.method ?? (init.json !== undefined || init.body !== undefined ? "POST" : "GET"),
    headers: { authorization: `Bearer ${key}`, "content-type": init.contentType ?? "application/json" },
    body: init.json !== undefined ? JSON.stringify(init.json) : init.body,
  });

describe("API keys", () => {
  it("stores no plaintext key: only its SHA-256 digest, a short prefix and a ciphertext", async () => {
    const rows = await salvo.deps.db
      .selectFrom("api_keys")
      .selectAll()
      .where("environment_id", "=", salvo.env.environmentId)
      .execute();
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(row.key_hash).toBe(hashSecretKey(salvo.key));
    expect(row.key_prefix.length).toBeLessThan(salvo.key.length);
    const body = salvo.key.slice("tr_dev_".length);
    for (const value of Object.values(row)) expect(String(value)).not.toContain(body);
    // Nowhere in the table either, in any column.
    const anywhere = await salvo.deps.db
      .selectFrom("api_keys")
      .select("id")
      .where((eb) =>
        eb.or([
          eb("key_hash", "like", `%${body}%`),
          eb("key_prefix", "like", `%${body}%`),
          eb("key_ciphertext", "like", `%${body}%`),
        ]),
      )
      .execute();
    expect(anywhere).toEqual([]);
  });

  it("refuses a revoked key with 401; the environment's other key still works", async () => {
    const second = await createApiKey(salvo.deps, salvo.env.environmentId);
    expect((await call(second, "/api/v3/batches", { json: { runCount: 1 } })).status).toBe(202);
    const { id } = await salvo.deps.db
      .selectFrom("api_keys")
      .select("id")
      .where("key_hash", "=", hashSecretKey(second))
      .executeTakeFirstOrThrow();
    expect(await revokeApiKey(salvo.deps, id)).toBe(true);
    const res = await call(second, "/api/v3/batches", { json: { runCount: 1 } });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual(errorBody("Invalid API key"));
    expect((await call(salvo.key, "/api/v3/batches", { json: { runCount: 1 } })).status).toBe(202);
  });

  it("refuses Personal Access Tokens with 401 on REST and tRPC", async () => {
    const pat = "tr_pat_0123456789abcdefghijklmnopqrstuvwxyz0123";
    const res = await call(pat, "/api/v3/batches", { json: { runCount: 1 } });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toMatch(/^Personal Access Tokens are not accepted here/);
    const trpc = await call(pat, "/trpc/batch.create", { json: { json: { runCount: 1 } } });
    expect(trpc.status).toBe(401);
  });
});

describe("environment isolation", () => {
  let other: CreatedEnvironment;
  let pendingId: string;
  let oneShotId: string;
  let runId: string;

  beforeAll(async () => {
    other = await salvo.newEnvironment();
    pendingId = (
      (await (await call(other.secretKey, "/api/v3/batches", { json: { runCount: 2 } })).json()) as { id: string }
    ).id;
    const oneShot = (await (
      await call(other.secretKey, "/api/v1/tasks/t/batch", { json: { items: [{ payload: 1 }] } })
    ).json()) as {
      batchId: string;
      runs: string[];
    };
    oneShotId = oneShot.batchId;
    runId = oneShot.runs[0]!;
  });

  it("answers 404 for another environment's batch or run on every REST route", async () => {
    const routes: [string, Parameters<typeof call>[2]][] = [
      [`/api/v1/batches/${oneShotId}`, {}],
      [`/api/v2/batches/${oneShotId}`, {}],
      [`/api/v1/batches/${oneShotId}/results`, {}],
      [
        `/api/v3/batches/${pendingId}/items`,
        { body: ndjson([{ index: 0, task: "t" }]), contentType: "application/x-ndjson" },
      ],
      [`/api/v3/runs/${runId}`, {}],
      [`/api/v2/runs/${runId}/cancel`, { method: "POST" }],
    ];
    for (const [path, init] of routes) {
      const res = await call(salvo.key, path, init);
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as { error: string }).error, path).toMatch(/not found/i);
    }
  });

  it("answers NOT_FOUND over tRPC, and the other environment's rows are unchanged", async () => {
    const client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
    const attempts = [
      () => client.batch.get.query({ batchId: oneShotId }),
      () => client.batch.results.query({ batchId: oneShotId }),
      () => client.batch.cancel.mutate({ batchId: pendingId }),
      () => client.batch.appendItems.mutate({ batchId: pendingId, items: [{ index: 0, task: "t", payload: 1 }] }),
      () => client.run.get.query({ runId }),
      () => client.run.cancel.mutate({ runId }),
    ];
    for (const attempt of attempts) {
      const err = (await attempt().then(
        () => undefined,
        (e: unknown) => e,
      )) as { data?: { code?: string } } | undefined;
      expect(err?.data?.code).toBe("NOT_FOUND");
    }
    const pending = await salvo.deps.db
      .selectFrom("batches")
      .select(["status", "enqueued_count"])
      .where("id", "=", pendingId)
      .executeTakeFirstOrThrow();
    expect(pending).toEqual({ status: "PENDING", enqueued_count: 0 });
    const run = await salvo.deps.db
      .selectFrom("runs")
      .select("status")
      .where("id", "=", runId)
      .executeTakeFirstOrThrow();
    expect(run.status).toBe("QUEUED");
  });
});
