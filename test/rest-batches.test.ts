import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ndjson, startTestSalvo, type TestSalvo } from "./support/salvo.js";

let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo();
});
afterAll(() => salvo?.close());

const FRIENDLY = /^[123456789abcdefghijkmnopqrstuvwxyz]{21}$/;

async function createBatch(body: unknown) {
  const res = await salvo.api("/api/v3/batches", { json: body });
  return { res, body: (await res.json()) as Record<string, unknown> };
}

function streamItems(batchId: string, items: unknown[] | string, contentType = "application/x-ndjson") {
  return salvo.api(`/api/v3/batches/${batchId}/items`, {
    method: "POST",
    headers: { "content-type": contentType },
    body: typeof items === "string" ? items : ndjson(items),
  });
}

describe("POST /api/v3/batches", () => {
  it("creates a PENDING batch: 202, the documented body and both JWT headers", async () => {
    const { res, body } = await createBatch({ runCount: 2 });
    expect(res.status).toBe(202);
    expect(Object.keys(body).sort()).toEqual(["id", "isCached", "runCount"]);
    expect(body.runCount).toBe(2);
    expect(body.isCached).toBe(false);
    expect(String(body.id)).toMatch(/^batch_/);
    expect(String(body.id).slice("batch_".length)).toMatch(FRIENDLY);

    const claims = JSON.parse(res.headers.get("x-trigger-jwt-claims")!);
    expect(claims).toEqual({ sub: salvo.env.environmentId, pub: true });
    const [, payload] = res.headers.get("x-trigger-jwt")!.split(".");
    const jwt = JSON.parse(Buffer.from(payload!, "base64url").toString());
    expect(jwt).toMatchObject({ sub: salvo.env.environmentId, pub: true, scopes: [`read:batch:${body.id}`] });
    expect(jwt.exp - jwt.iat).toBe(3600);
  });

  it("refuses runCount <= 0 and above the maximum with 400 {error}", async () => {
    for (const runCount of [0, -1]) {
      const { res, body } = await createBatch({ runCount });
      expect(res.status).toBe(400);
      expect(body).toEqual({
        error: "runCount must be a positive integer",
        message: "runCount must be a positive integer",
      });
    }
    const { res, body } = await createBatch({ runCount: 100_001 });
    expect(res.status).toBe(400);
    expect(body.error).toContain("100000");
  });
});

describe("POST /api/v3/batches/{id}/items", () => {
  it("seals once every index is present and dedupes repeats by index", async () => {
    const { body: batch } = await createBatch({ runCount: 3 });
    const id = String(batch.id);
    let res = await streamItems(id, [
      { index: 0, task: "t", payload: { n: 0 } },
      { index: 1, task: "t", payload: { n: 1 } },
    ]);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      id,
      itemsAccepted: 2,
      itemsDeduplicated: 0,
      sealed: false,
      enqueuedCount: 2,
      expectedCount: 3,
    });

    res = await streamItems(id, [
      { index: 0, task: "t", payload: { n: 0 } },
      { index: 1, task: "t", payload: { n: 1 } },
      { index: 2, task: "t", payload: { n: 2 } },
    ]);
    expect(await res.json()).toEqual({ id, itemsAccepted: 1, itemsDeduplicated: 2, sealed: true });

    res = await streamItems(id, [{ index: 0, task: "t" }]);
    expect(await res.json()).toEqual({ id, itemsAccepted: 0, itemsDeduplicated: 0, sealed: true });
  });

  it("answers 415 for a body that is not NDJSON", async () => {
    const { body: batch } = await createBatch({ runCount: 1 });
    const res = await streamItems(String(batch.id), '{"index":0,"task":"t"}', "application/json");
    expect(res.status).toBe(415);
    expect(await res.json()).toMatchObject({
      error: "Content-Type must be application/x-ndjson or application/ndjson",
    });
  });
});
