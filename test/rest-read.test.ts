import { RetrieveBatchV2Response, RetrieveRunResponse } from "@trigger.dev/core/v3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorBody, ndjson, startTestSalvo, type TestSalvo } from "./support/salvo.js";

// Reading batches and runs: exact shapes, with absent fields left out (never null).
let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo();
});
afterAll(() => salvo?.close());

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** A GET's status and JSON body; `Body` is the shape the caller expects (the test checks it). */
const get = async <Body = Record<string, unknown>>(path: string, key = salvo.key) => {
  const res = await salvo.api(path, { headers: { authorization: `Bearer ${key}` } });
  return { status: res.status, body: (await res.json()) as Body };
};
const noNulls = (value: unknown): boolean =>
  value === null ? false : typeof value === "object" ? Object.values(value as object).every(noNulls) : true;

async function twoPhase(runCount: number, sent: number, extra: Record<string, unknown> = {}) {
  const res = await salvo.api("/api/v3/batches", { json: { runCount, ...extra } });
  const { id } = (await res.json()) as { id: string };
  if (sent > 0) {
    const items = Array.from({ length: sent }, (_, index) => ({ index, task: "reader", payload: { index } }));
    const r = await salvo.api(`/api/v3/batches/${id}/items`, {
      method: "POST",
      headers: { "content-type": "application/x-ndjson" },
      body: ndjson(items),
    });
    expect(r.status).toBe(200);
  }
  return id;
}

describe("GET /api/v1/batches/{id}", () => {
  it("a PENDING batch without idempotency key: exactly the documented fields", async () => {
    const id = await twoPhase(3, 1);
    const { status, body } = await get(`/api/v1/batches/${id}`);
    expect(status).toBe(200);
    expect(Object.keys(body).sort()).toEqual(["createdAt", "id", "runCount", "runs", "status", "updatedAt"]);
    expect(body).toMatchObject({ id, status: "PENDING", runCount: 3 });
    expect(body.runs).toHaveLength(1);
    expect(body.createdAt).toMatch(ISO);
    expect(body.updatedAt).toMatch(ISO);
  });

  it("a sealed batch with idempotency key lists its runs in index order", async () => {
    const id = await twoPhase(3, 3, { idempotencyKey: "read-me" });
    const { body } = await get(`/api/v1/batches/${id}`);
    expect(body.idempotencyKey).toBe("read-me");
    expect(["PENDING", "PROCESSING"]).toContain(body.status);
    expect(body.runs).toHaveLength(3);
    expect(noNulls(body)).toBe(true);
    for (const [index, runId] of (body.runs as string[]).entries()) {
      expect((await get(`/api/v3/runs/${runId}`)).body.payload).toEqual({ index });
    }
  });

  it("unknown and other-environment batches are 404 {error}", async () => {
    const id = await twoPhase(1, 0);
    const other = await salvo.newEnvironment();
    for (const version of ["v1", "v2"]) {
      expect(await get(`/api/${version}/batches/batch_unknownunknownunknow`)).toEqual({
        status: 404,
        body: errorBody("Batch batch_unknownunknownunknow not found"),
      });
      expect((await get(`/api/${version}/batches/${id}`, other.secretKey)).status).toBe(404);
    }
  });
});

describe("GET /api/v2/batches/{id}", () => {
  it("parses with the SDK's RetrieveBatchV2Response and leaves absent fields out", async () => {
    const id = await twoPhase(2, 2);
    const { status, body } = await get<RetrieveBatchV2Response>(`/api/v2/batches/${id}`);
    expect(status).toBe(200);
    expect(RetrieveBatchV2Response.safeParse(body).success).toBe(true);
    expect(Object.keys(body).sort()).toEqual([
      "createdAt",
      "id",
      "processing",
      "runCount",
      "runs",
      "status",
      "updatedAt",
    ]);
    expect(body.processing.errors).toEqual([]);
    expect(body.processing.completedAt).toMatch(ISO);
    expect(noNulls(body)).toBe(true);

    const pending = await get<RetrieveBatchV2Response>(`/api/v2/batches/${await twoPhase(2, 1)}`);
    expect(RetrieveBatchV2Response.safeParse(pending.body).success).toBe(true);
    expect(pending.body.processing).toEqual({ errors: [] });
  });
});

describe("GET /api/v3/runs/{id}", () => {
  it("parses with the SDK's RetrieveRunResponse; optional fields absent, not null", async () => {
    const res = await salvo.api("/api/v1/tasks/reader/batch", {
      json: {
        items: [
          { payload: { a: 1 } },
          { payload: "x", options: { tags: ["t1"], delay: "2h", metadata: { m: true }, idempotencyKey: "ik-read" } },
        ],
      },
    });
    const { runs } = (await res.json()) as { runs: string[] };

    const plain = await get(`/api/v3/runs/${runs[0]}`);
    expect(plain.status).toBe(200);
    const parsed = RetrieveRunResponse.safeParse(plain.body);
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
    expect(noNulls(plain.body)).toBe(true);
    expect(plain.body).toMatchObject({
      id: runs[0],
      status: "QUEUED",
      taskIdentifier: "reader",
      isQueued: true,
      isCompleted: false,
      payload: { a: 1 },
      tags: [],
    });
    for (const absent of ["idempotencyKey", "startedAt", "finishedAt", "delayedUntil", "output", "error", "metadata"]) {
      expect(plain.body, absent).not.toHaveProperty(absent);
    }

    const rich = await get(`/api/v3/runs/${runs[1]}`);
    expect(RetrieveRunResponse.safeParse(rich.body).success).toBe(true);
    expect(rich.body).toMatchObject({
      status: "DELAYED",
      tags: ["t1"],
      metadata: { m: true },
      idempotencyKey: "ik-read",
      payload: "x",
    });
    expect(rich.body.delayedUntil).toMatch(ISO);
  });

  it("unknown and other-environment runs are 404", async () => {
    const res = await salvo.api("/api/v1/tasks/reader/trigger", { json: { payload: 1 } });
    const { id } = (await res.json()) as { id: string };
    const other = await salvo.newEnvironment();
    expect((await get(`/api/v3/runs/${id}`, other.secretKey)).status).toBe(404);
    const unknown = await get("/api/v3/runs/run_unknownunknownunknown");
    expect(unknown.status).toBe(404);
    expect(Object.keys(unknown.body)).toEqual(["error", "message"]);
  });
});
