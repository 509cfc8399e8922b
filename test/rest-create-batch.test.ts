import { createHmac } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSalvoClient } from "../client/index.js";
import { errorBody, jwtClaims, startTestSalvo, type TestSalvo } from "./support/salvo.js";

// POST /api/v3/batches: phase 1 of the two-phase batch API.
let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo({ SALVO_MAX_BATCH_RUN_COUNT: "10" });
});
afterAll(() => salvo?.close());

async function create(body: unknown, headers: Record<string, string> = {}) {
  const res = await salvo.api("/api/v3/batches", { json: body, headers });
  return { res, body: (await res.json()) as Record<string, unknown> };
}

describe("POST /api/v3/batches", () => {
  it("answers 202 with a JWT signed (HS256) with the environment's secret key", async () => {
    const { res, body } = await create({ runCount: 3 });
    expect(res.status).toBe(202);
    expect(body).toEqual({ id: expect.stringMatching(/^batch_[1-9a-km-z]{21}$/), runCount: 3, isCached: false });
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);

    const jwt = res.headers.get("x-trigger-jwt")!;
    const [header, payload, signature] = jwt.split(".");
    const expected = createHmac("sha256", salvo.key).update(`${header}.${payload}`).digest("base64url");
    expect(signature).toBe(expected);
    expect(JSON.parse(Buffer.from(header!, "base64url").toString())).toMatchObject({ alg: "HS256", typ: "JWT" });
    const claims = JSON.parse(Buffer.from(payload!, "base64url").toString());
    expect(claims).toMatchObject({ sub: salvo.env.environmentId, pub: true, scopes: [`read:batch:${body.id}`] });
    expect(claims.exp - claims.iat).toBe(3600);
    expect(Math.abs(claims.iat - Date.now() / 1000)).toBeLessThan(60);

    expect(JSON.parse(res.headers.get("x-trigger-jwt-claims")!)).toEqual({ sub: salvo.env.environmentId, pub: true });
  });

  it("refuses runCount 0, negative, non-integer, non-number and missing with 400 {error}", async () => {
    for (const runCount of [0, -5]) {
      const { res, body } = await create({ runCount });
      expect(res.status).toBe(400);
      expect(body).toEqual(errorBody("runCount must be a positive integer"));
    }
    for (const bad of [{ runCount: 1.5 }, { runCount: "3" }, {}]) {
      const { res, body } = await create(bad);
      expect(res.status).toBe(400);
      expect(Object.keys(body)).toEqual(["error", "message"]);
      expect(body.error).toMatch(/runCount/);
    }
  });

  it("refuses a runCount over the configured maximum, naming the maximum", async () => {
    const ok = await create({ runCount: 10 });
    expect(ok.res.status).toBe(202);
    const { res, body } = await create({ runCount: 11 });
    expect(res.status).toBe(400);
    expect(body).toEqual(errorBody("Batch runCount of 11 exceeds maximum allowed of 10."));
  });

  it("refuses a body that is not a JSON object", async () => {
    const res = await salvo.api("/api/v3/batches", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "[1]",
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual(errorBody("Request body must be a JSON object"));
    const broken = await salvo.api("/api/v3/batches", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{nope",
    });
    expect(broken.status).toBe(400);
    // The parser's own words follow (they vary with the Node version).
    expect(await broken.json()).toEqual(errorBody(expect.stringMatching(/^Invalid JSON: /)));
  });

  it("a repeated idempotencyKey answers 200 with the existing batch, isCached and the key", async () => {
    const first = await create({ runCount: 2, idempotencyKey: "nightly-2026-11-23" });
    expect(first.res.status).toBe(202);
    expect(first.body).toEqual({
      id: expect.any(String),
      runCount: 2,
      isCached: false,
      idempotencyKey: "nightly-2026-11-23",
    });
    const again = await create({ runCount: 2, idempotencyKey: "nightly-2026-11-23" });
    expect(again.res.status).toBe(200);
    expect(again.body).toEqual({
      id: first.body.id,
      runCount: 2,
      isCached: true,
      idempotencyKey: "nightly-2026-11-23",
    });
    // The cached answer carries a token for the batch it names.
    expect(jwtClaims(again.res.headers.get("x-trigger-jwt"))).toMatchObject({
      sub: salvo.env.environmentId,
      scopes: [`read:batch:${first.body.id}`],
    });

    // Keys are per environment: another environment gets its own batch.
    const other = await salvo.newEnvironment();
    const res = await salvo.api("/api/v3/batches", {
      json: { runCount: 2, idempotencyKey: "nightly-2026-11-23" },
      headers: { authorization: `Bearer ${other.secretKey}` },
    });
    expect(res.status).toBe(202);
    expect(((await res.json()) as { id: string }).id).not.toBe(first.body.id);
  });

  it("the same x-trigger-request-idempotency-key twice gets the first answer (202, not cached)", async () => {
    const headers = { "x-trigger-request-idempotency-key": "req-abc-1" };
    const first = await create({ runCount: 4 }, headers);
    const again = await create({ runCount: 4 }, headers);
    expect(first.res.status).toBe(202);
    expect(again.res.status).toBe(202);
    expect(again.body).toEqual({ id: first.body.id, runCount: 4, isCached: false });
    const fresh = await create({ runCount: 4 }, { "x-trigger-request-idempotency-key": "req-abc-2" });
    expect(fresh.body.id).not.toBe(first.body.id);
  });

  it("stores parentRunId and resumeParentOnCompletion (batch.get shows them)", async () => {
    const { body } = await create({
      runCount: 1,
      parentRunId: "run_parentparentparent1",
      resumeParentOnCompletion: true,
    });
    const client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
    const batch = await client.batch.get.query({ batchId: String(body.id) });
    expect(batch.parentRunId).toBe("run_parentparentparent1");
    expect(batch.resumeParentOnCompletion).toBe(true);
    expect(batch.status).toBe("PENDING");

    const { body: plain } = await create({ runCount: 1 });
    const plainBatch = await client.batch.get.query({ batchId: String(plain.id) });
    expect(plainBatch.parentRunId).toBeUndefined();
    expect(plainBatch.resumeParentOnCompletion).toBe(false);
  });
});
