import { createServer, request as httpRequest, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import {
  BatchTriggerTaskV3Response,
  CreateBatchResponse,
  RetrieveBatchV2Response,
  RetrieveRunResponse,
  StreamBatchItemsResponse,
  TriggerTaskResponse,
} from "@trigger.dev/core/v3";
import { auth, batch, configure, runs, tasks } from "@trigger.dev/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shouldRetryHeader, toHttpError } from "../server/rest/errors.js";
import { RUN_STATUSES, type RunStatus } from "../shared/schemas.js";
import { jwtClaims, ndjson, startTestSalvo, type TestSalvo } from "./support/salvo.js";

/**
 * Wire details the SDK depends on: response shapes checked with the SDK's own zod schemas (an
 * optional field is absent, never null), error bodies and `x-should-retry`, request idempotency,
 * and the legacy one-shot `POST /api/v2/tasks/batch`.
 */
let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo();
  configure({ baseURL: salvo.url, accessToken: salvo.key });
});
afterAll(() => salvo?.close());

/**
 * Runs `fn` against a proxy in front of Salvo. `divert` sees each request with Salvo's answer and
 * returns true when it has dealt with the answer itself; otherwise the answer is passed on.
 */
async function withProxy<T>(
  fn: (baseURL: string) => Promise<T>,
  divert: (req: IncomingMessage, answer: IncomingMessage) => boolean,
): Promise<T> {
  const proxy: Server = createServer((req, res) => {
    const upstream = httpRequest(`${salvo.url}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
      if (divert(req, up)) return;
      res.writeHead(up.statusCode ?? 500, up.headers);
      up.pipe(res);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  try {
    return await fn(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}`);
  } finally {
    await new Promise((resolve) => proxy.close(resolve));
  }
}

/** Fails on any `null` in an API answer, outside user data (payload, output, metadata). */
function expectNoNulls(value: unknown, path = "$"): void {
  if (value === null) throw new Error(`null at ${path}`);
  if (typeof value !== "object") return;
  for (const [key, inner] of Object.entries(value as object)) {
    if (["payload", "output", "metadata"].includes(key)) continue;
    expectNoNulls(inner, `${path}.${key}`);
  }
}

async function json(res: Response) {
  const body: unknown = await res.json();
  expectNoNulls(body);
  return body as Record<string, unknown>;
}

const createBatch = (body: unknown, headers: Record<string, string> = {}) =>
  salvo.api("/api/v3/batches", { json: body, headers });
const stream = (id: string, items: unknown[]) =>
  salvo.api(`/api/v3/batches/${id}/items`, {
    method: "POST",
    headers: { "content-type": "application/x-ndjson" },
    body: ndjson(items),
  });

describe("response shapes against the SDK's schemas", () => {
  it("create, stream (unsealed and sealed), retrieve v2 (with item errors), trigger", async () => {
    for (const body of [{ runCount: 2 }, { runCount: 2, idempotencyKey: `k-${Date.now()}` }]) {
      const res = await createBatch(body);
      expect(res.status).toBe(202);
      CreateBatchResponse.parse(await json(res));
    }
    const { id } = (await (await createBatch({ runCount: 2 })).json()) as { id: string };
    const partial = await json(
      await stream(id, [
        { index: 0, task: "t", payload: '{"json":1}', options: { payloadType: "application/super+json" } },
      ]),
    );
    expect(StreamBatchItemsResponse.parse(partial)).toMatchObject({
      sealed: false,
      enqueuedCount: 1,
      expectedCount: 2,
    });
    const sealed = await json(await stream(id, [{ index: 1, task: "t" }]));
    expect(sealed).toEqual({ id, itemsAccepted: 1, itemsDeduplicated: 0, sealed: true });
    StreamBatchItemsResponse.parse(sealed);

    const v2 = RetrieveBatchV2Response.parse(await json(await salvo.api(`/api/v2/batches/${id}`)));
    expect(v2.runs).toHaveLength(2);
    expect(v2.processing.completedAt).toBeInstanceOf(Date);
    expectNoNulls(await json(await salvo.api(`/api/v1/batches/${id}`)));

    // An item that could not become a run (written directly: no public input produces one yet).
    const { id: failing } = (await (await createBatch({ runCount: 1 })).json()) as { id: string };
    await salvo.deps.db
      .insertInto("batch_items")
      .values({
        batch_id: failing,
        batch_index: 0,
        task_identifier: "t",
        run_id: null,
        error: "boom",
        error_code: null,
      })
      .execute();
    const withError = RetrieveBatchV2Response.parse(await json(await salvo.api(`/api/v2/batches/${failing}`)));
    expect(withError.processing.errors).toEqual([{ index: 0, taskIdentifier: "t", error: "boom" }]);
    expect(withError).not.toHaveProperty("idempotencyKey");

    const trigger = await salvo.api("/api/v1/tasks/t/trigger", { json: { payload: { a: 1 } } });
    TriggerTaskResponse.parse(await json(trigger));
  });

  // What Salvo stores → what the SDK sees. REATTEMPTING has no SDK name: it is queued again.
  const expected: Record<RunStatus, { status: string; flags: string[] }> = {
    DELAYED: { status: "DELAYED", flags: ["isQueued"] },
    QUEUED: { status: "QUEUED", flags: ["isQueued"] },
    REATTEMPTING: { status: "QUEUED", flags: ["isQueued"] },
    EXECUTING: { status: "EXECUTING", flags: ["isExecuting"] },
    WAITING: { status: "WAITING", flags: ["isWaiting"] },
    COMPLETED: { status: "COMPLETED", flags: ["isCompleted", "isSuccess"] },
    FAILED: { status: "FAILED", flags: ["isCompleted", "isFailed"] },
    CRASHED: { status: "CRASHED", flags: ["isCompleted", "isFailed"] },
    SYSTEM_FAILURE: { status: "SYSTEM_FAILURE", flags: ["isCompleted", "isFailed"] },
    EXPIRED: { status: "EXPIRED", flags: ["isCompleted", "isFailed"] },
    TIMED_OUT: { status: "TIMED_OUT", flags: ["isCompleted", "isFailed"] },
    CANCELED: { status: "CANCELED", flags: ["isCompleted", "isCancelled"] },
  };
  const FLAGS = ["isQueued", "isExecuting", "isWaiting", "isCompleted", "isSuccess", "isFailed", "isCancelled"];

  it.each([...RUN_STATUSES])("runs.retrieve on a %s run", async (status) => {
    const handle = await tasks.trigger("status", { s: status }, { ttl: "1h", tags: ["t1"], metadata: { k: "v" } });
    const now = Date.now();
    const started = ["DELAYED", "QUEUED"].includes(status) ? null : new Date(now - 5000);
    const finished = ["COMPLETED", "FAILED", "CRASHED", "SYSTEM_FAILURE", "EXPIRED", "TIMED_OUT", "CANCELED"].includes(
      status,
    )
      ? new Date(now - 1000)
      : null;
    await salvo.deps.db
      .updateTable("runs")
      .set({
        status,
        started_at: status === "EXPIRED" ? null : started,
        finished_at: finished,
        delay_until: status === "DELAYED" ? new Date(now + 3_600_000) : null,
        expired_at: status === "EXPIRED" ? finished : null,
        error: ["FAILED", "CRASHED", "SYSTEM_FAILURE", "TIMED_OUT"].includes(status)
          ? JSON.stringify({ message: "it broke", name: "Error" })
          : null,
        output: status === "COMPLETED" ? '{"ok":true}' : null,
        output_type: status === "COMPLETED" ? "application/json" : null,
      })
      .where("id", "=", handle.id)
      .execute();

    const body = await json(await salvo.api(`/api/v3/runs/${handle.id}`));
    RetrieveRunResponse.parse(body);
    const run = await runs.retrieve(handle.id);
    expect(run.status).toBe(expected[status].status);
    for (const flag of FLAGS) expect(run[flag as keyof typeof run], flag).toBe(expected[status].flags.includes(flag));
    expect(run.ttl).toBe("1h");
    expect(run.metadata).toEqual({ k: "v" });
    expect(run.payload).toEqual({ s: status });
    if (status === "DELAYED") expect(run.delayedUntil).toBeInstanceOf(Date);
    else expect(run).not.toHaveProperty("delayedUntil");
    if (status === "COMPLETED") {
      expect(run.output).toEqual({ ok: true });
      expect(run.durationMs).toBe(4000);
    }
    if (status === "FAILED") expect(run.error).toEqual({ message: "it broke", name: "Error" });
    if (status === "EXPIRED") expect(run.expiredAt).toBeInstanceOf(Date);
    if (started === null || status === "EXPIRED") expect(run).not.toHaveProperty("startedAt");
  });
});

describe("errors", () => {
  it("every error body carries error and message; permanent failures say x-should-retry: false", async () => {
    const cases: [Response, number][] = [
      [await createBatch({ runCount: 0 }), 400],
      [
        await salvo.api("/api/v3/batches", { json: { runCount: 1 }, headers: { authorization: "Bearer tr_dev_nope" } }),
        401,
      ],
      [await salvo.api("/api/v2/batches/batch_doesnotexist"), 404],
      [await salvo.api("/api/v3/runs/run_doesnotexist"), 404],
      [await salvo.api("/api/v9/nothing"), 404],
      [
        await salvo.api("/api/v3/batches", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: "{oops",
        }),
        400,
      ],
    ];
    for (const [res, status] of cases) {
      expect(res.status).toBe(status);
      expect(res.headers.get("x-should-retry")).toBe("false");
      const body = (await res.json()) as { error: string; message: string };
      expect(typeof body.error).toBe("string");
      expect(body.message).toBe(body.error);
    }
  });

  it("the SDK surfaces the error text and does not retry a 404", async () => {
    const requests: string[] = [];
    await withProxy(
      (baseURL) =>
        expect(
          auth.withAuth({ baseURL, accessToken: salvo.key }, () => batch.retrieve("batch_doesnotexist")),
        ).rejects.toMatchObject({
          status: 404,
          message: expect.stringContaining("Batch batch_doesnotexist not found"),
        }),
      (req) => {
        requests.push(`${req.method} ${req.url}`);
        return false;
      },
    );
    expect(requests).toEqual(["GET /api/v2/batches/batch_doesnotexist"]);
  });

  it("a transient database failure is a 503 with x-should-retry: true; any other fault a 500 with false", () => {
    const serialization = Object.assign(new Error("could not serialize access"), { code: "40001" });
    const dropped = Object.assign(new Error("terminating connection"), { code: "57P01" });
    const wrapped = new Error("query failed", { cause: Object.assign(new Error("refused"), { code: "ECONNREFUSED" }) });
    for (const err of [serialization, dropped, wrapped]) {
      expect(toHttpError(err).status).toBe(503);
    }
    expect(shouldRetryHeader(503)).toBe("true");
    expect(toHttpError(Object.assign(new Error("duplicate"), { code: "23505" })).status).toBe(500);
    expect(shouldRetryHeader(500)).toBe("false");
    expect(shouldRetryHeader(429)).toBeUndefined();
  });
});

describe("x-trigger-request-idempotency-key", () => {
  it("over HTTP: a create repeated with the same key returns the first answer and makes no second batch", async () => {
    const key = crypto.randomUUID();
    const first = await createBatch({ runCount: 3 }, { "x-trigger-request-idempotency-key": key });
    const again = await createBatch({ runCount: 3 }, { "x-trigger-request-idempotency-key": key });
    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    const firstBody = await first.json();
    expect(await again.json()).toEqual(firstBody);
    const other = await createBatch({ runCount: 3 }, { "x-trigger-request-idempotency-key": crypto.randomUUID() });
    expect(((await other.json()) as { id: string }).id).not.toBe((firstBody as { id: string }).id);
  });

  /**
   * A proxy in front of Salvo that lets the first request to `path` through but drops its answer
   * (cuts the connection once Salvo has committed), as a network failure would.
   */
  async function withLossyProxy<T>(path: string, fn: (baseURL: string) => Promise<T>) {
    let dropped: { key: string; body: string } | undefined;
    const result = await withProxy(fn, (req, up) => {
      if (dropped || req.method !== "POST" || req.url !== path) return false;
      const chunks: Buffer[] = [];
      up.on("data", (c: Buffer) => chunks.push(c));
      up.on("end", () => {
        dropped = {
          key: String(req.headers["x-trigger-request-idempotency-key"]),
          body: Buffer.concat(chunks).toString(),
        };
        req.socket.destroy();
      });
      return true;
    });
    expect(dropped, "the proxy cut an answer").toMatchObject({ key: expect.any(String), body: expect.any(String) });
    return { result, dropped: dropped! };
  }

  it("through the SDK: batchTrigger whose create answer is lost gets it on the retry; the batch is created once", async () => {
    const { result: handle, dropped } = await withLossyProxy("/api/v3/batches", (baseURL) =>
      tasks.batchTrigger("retried", [{ payload: { i: 0 } }, { payload: { i: 1 } }], undefined, {
        clientConfig: { baseURL, accessToken: salvo.key },
      }),
    );
    expect(handle.batchId).toBe((JSON.parse(dropped.body) as { id: string }).id);
    const created = await salvo.deps.db
      .selectFrom("batches")
      .select(["id", "sealed"])
      .where("request_idempotency_key", "=", dropped.key)
      .execute();
    expect(created).toEqual([{ id: handle.batchId, sealed: true }]);
    expect((await batch.retrieve(handle.batchId)).runs).toHaveLength(2);
  });

  it("through the SDK: tasks.trigger whose answer is lost gets the first run on the retry, not a second run", async () => {
    const { result: handle, dropped } = await withLossyProxy("/api/v1/tasks/retried-single/trigger", (baseURL) =>
      tasks.trigger("retried-single", { once: true }, undefined, { clientConfig: { baseURL, accessToken: salvo.key } }),
    );
    expect(handle.id).toBe((JSON.parse(dropped.body) as { id: string }).id);
    const made = await salvo.deps.db
      .selectFrom("runs")
      .select("id")
      .where("environment_id", "=", salvo.env.environmentId)
      .where("task_identifier", "=", "retried-single")
      .execute();
    expect(made).toEqual([{ id: handle.id }]);
  });

  it("over HTTP: the legacy one-shot batch also returns its first answer for a repeated request key", async () => {
    const headers = { "x-trigger-request-idempotency-key": crypto.randomUUID() };
    const first = await salvo.api("/api/v2/tasks/batch", { json: { items: [{ task: "a" }] }, headers });
    const again = await salvo.api("/api/v2/tasks/batch", { json: { items: [{ task: "a" }] }, headers });
    expect(first.status).toBe(202);
    expect(again.status).toBe(202);
    expect(await again.json()).toEqual(await first.json());
  });
});

describe("POST /api/v2/tasks/batch (older SDKs)", () => {
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    salvo.api("/api/v2/tasks/batch", { json: body, headers });

  it("202 {id, isCached: false, runCount} with the token headers; keys outside its schema are ignored", async () => {
    const res = await post({
      items: [
        { task: "a", payload: '{"json":{"n":1}}', options: { payloadType: "application/super+json" } },
        { task: "b", payload: { n: 2 } },
      ],
      idempotencyKey: "ignored-here",
    });
    expect(res.status).toBe(202);
    const body = await json(res);
    expect(Object.keys(body).sort()).toEqual(["id", "isCached", "runCount"]);
    expect(body).toMatchObject({ isCached: false, runCount: 2 });
    expect(BatchTriggerTaskV3Response.parse(body)).toMatchObject({ id: body.id, runCount: 2 });
    expect(jwtClaims(res.headers.get("x-trigger-jwt"))).toMatchObject({
      sub: salvo.env.environmentId,
      scopes: [`read:batch:${body.id}`],
    });
    expect(JSON.parse(res.headers.get("x-trigger-jwt-claims")!)).toEqual({ sub: salvo.env.environmentId, pub: true });
    const retrieved = await batch.retrieve(String(body.id));
    expect(retrieved.runs).toHaveLength(2);
    expect((await runs.retrieve(retrieved.runs[0]!)).payload).toEqual({ n: 1 });
    // The same body again is a new batch: this route has no batch idempotency.
    expect(
      ((await (await post({ items: [{ task: "a" }], idempotencyKey: "ignored-here" })).json()) as { id: string }).id,
    ).not.toBe(body.id);
  });

  it("refuses what Trigger.dev refuses: no items, more than 500, a bad strategy header, a body over 1,000,000 bytes", async () => {
    const empty = await post({ items: [] });
    expect(empty.status).toBe(400);
    expect(((await empty.json()) as { error: string }).error).toBe("Batch cannot be triggered with no items");
    const many = await post({ items: Array.from({ length: 501 }, () => ({ task: "a" })) });
    expect(many.status).toBe(400);
    expect(((await many.json()) as { error: string }).error).toBe(
      "Batch size of 501 is too large. Maximum allowed batch size is 500.",
    );
    const strategy = await post({ items: [{ task: "a" }] }, { "batch-processing-strategy": "whenever" });
    expect(strategy.status).toBe(400);
    const big = await post({ items: [{ task: "a", payload: "x".repeat(1_000_001) }] });
    expect(big.status).toBe(413);
    expect(((await big.json()) as { error: string }).error).toBe("Request body too large");
    const ok = await post({ items: [{ task: "a" }] }, { "batch-processing-strategy": "parallel" });
    expect(ok.status).toBe(202);
  });
});
