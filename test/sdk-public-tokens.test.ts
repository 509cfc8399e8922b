import { randomBytes } from "node:crypto";
import { auth, batch, configure, runs, tasks } from "@trigger.dev/sdk";
import { TRPCClientError } from "@trpc/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSalvoClient } from "../client/index.js";
import { createEnvironment } from "../server/auth/environments.js";
import { JWT_AUDIENCE, JWT_ISSUER, signHs256 } from "../server/auth/jwt.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";

/**
 * `auth.createPublicToken` (both ways the SDK does it) and the handles' `publicAccessToken`:
 * public tokens read what their scopes cover (403 otherwise), bad or expired ones get 401.
 */
let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo();
  configure({ baseURL: salvo.url, accessToken: salvo.key });
});
afterAll(() => salvo?.close());

const as = <T>(accessToken: string, fn: () => Promise<T>) => auth.withAuth({ accessToken }, fn);
const refusedWith = (status: number) => expect.objectContaining({ status });

describe("auth.createPublicToken with a root secret key (claims from the server, signed by the SDK)", () => {
  it("POST /api/v1/auth/jwt/claims accepts the SDK's empty JSON request and answers the environment's claims", async () => {
    const res = await salvo.api("/api/v1/auth/jwt/claims", {
      method: "POST",
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ sub: salvo.env.environmentId, pub: true });
  });

  it("read:runs:<id> reads that run only", async () => {
    const mine = await tasks.trigger("scoped", { n: 1 });
    const other = await tasks.trigger("scoped", { n: 2 });
    const token = await auth.createPublicToken({ scopes: { read: { runs: [mine.id] } } });
    expect((await as(token, () => runs.retrieve(mine.id))).payload).toEqual({ n: 1 });
    await expect(as(token, () => runs.retrieve(other.id))).rejects.toEqual(refusedWith(403));
  });

  it("read:tasks:<task> reads every run of that task, not of another", async () => {
    const email = await tasks.trigger("email", {});
    const sms = await tasks.trigger("sms", {});
    const token = await auth.createPublicToken({ scopes: { read: { tasks: "email" } } });
    expect((await as(token, () => runs.retrieve(email.id))).taskIdentifier).toBe("email");
    await expect(as(token, () => runs.retrieve(sms.id))).rejects.toEqual(refusedWith(403));
  });

  it("read:tags:<tag> reads runs carrying the tag", async () => {
    const tagged = await tasks.trigger("tagged", {}, { tags: ["user_42"] });
    const untagged = await tasks.trigger("tagged", {}, { tags: ["user_7"] });
    const token = await auth.createPublicToken({ scopes: { read: { tags: ["user_42"] } } });
    expect((await as(token, () => runs.retrieve(tagged.id))).tags).toEqual(["user_42"]);
    await expect(as(token, () => runs.retrieve(untagged.id))).rejects.toEqual(refusedWith(403));
  });

  it("read:batch:<id> reads the batch and its runs, not another batch", async () => {
    const mine = await tasks.batchTrigger("fan", [{ payload: { i: 0 } }, { payload: { i: 1 } }]);
    const other = await tasks.batchTrigger("fan", [{ payload: { i: 9 } }]);
    const token = await auth.createPublicToken({ scopes: { read: { batch: mine.batchId } } });
    const retrieved = await as(token, () => batch.retrieve(mine.batchId));
    expect(retrieved.runs).toHaveLength(2);
    expect((await as(token, () => runs.retrieve(retrieved.runs[1]!))).payload).toEqual({ i: 1 });
    await expect(as(token, () => batch.retrieve(other.batchId))).rejects.toEqual(refusedWith(403));
    const otherRuns = (await batch.retrieve(other.batchId)).runs;
    await expect(as(token, () => runs.retrieve(otherRuns[0]!))).rejects.toEqual(refusedWith(403));
  });

  it("a token without any scope reads nothing", async () => {
    const run = await tasks.trigger("scoped", {});
    const token = await auth.createPublicToken();
    await expect(as(token, () => runs.retrieve(run.id))).rejects.toEqual(refusedWith(403));
  });
});

describe("auth.createPublicToken with an additional key (tr_dev_sk_…): minted by POST /api/v1/auth/public-tokens", () => {
  it("mints a token with the asked scopes and expiry, which reads what it covers", async () => {
    const sk = await createEnvironment(salvo.deps, {
      type: "dev",
      project: "test",
      // Random, so the test can run again on a database that keeps the last run's keys.
      secretKey: `tr_dev_sk_${randomBytes(12).toString("hex")}`,
    });
    const [run, other] = await as(sk.secretKey, () =>
      Promise.all([tasks.trigger("job", { a: 1 }), tasks.trigger("job", { a: 2 })]),
    );
    const token = await as(sk.secretKey, () =>
      auth.createPublicToken({ scopes: { read: { runs: run.id } }, expirationTime: "2h" }),
    );
    const claims = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString());
    expect(claims).toMatchObject({
      sub: sk.environmentId,
      pub: true,
      scopes: [`read:runs:${run.id}`],
      iss: JWT_ISSUER,
      aud: JWT_AUDIENCE,
    });
    expect(claims.exp - claims.iat).toBe(7200);
    expect((await as(token, () => runs.retrieve(run.id))).payload).toEqual({ a: 1 });
    await expect(as(token, () => runs.retrieve(other.id))).rejects.toEqual(refusedWith(403));
    // A token of one environment never sees another's runs, even with a scope naming the run.
    const foreign = await tasks.trigger("job", { a: 3 });
    const foreignToken = await as(sk.secretKey, () =>
      auth.createPublicToken({ scopes: { read: { runs: foreign.id } } }),
    );
    await expect(as(foreignToken, () => runs.retrieve(foreign.id))).rejects.toEqual(refusedWith(404));
  });

  it("validates the request: scopes are required, expirationTime must be a time, a public token cannot mint", async () => {
    const post = (json: unknown, authorization = `Bearer ${salvo.key}`) =>
      salvo.api("/api/v1/auth/public-tokens", { json, headers: { authorization } });
    const noScopes = await post({ scopes: [] });
    expect(noScopes.status).toBe(400);
    expect(((await noScopes.json()) as { error: string }).error).toContain("scopes");
    expect((await post({ scopes: ["read:runs"], expirationTime: "soon" })).status).toBe(400);
    const ok = await post({ scopes: ["read:runs"], expirationTime: Math.floor(Date.now() / 1000) + 60 });
    expect(ok.status).toBe(200);
    const { token } = (await ok.json()) as { token: string };
    expect((await post({ scopes: ["read:runs"] }, `Bearer ${token}`)).status).toBe(401);
  });
});

describe("the publicAccessToken of a batch handle (x-trigger-jwt)", () => {
  it("reads that batch and its runs but not another batch", async () => {
    const mine = await tasks.batchTrigger("handle", [{ payload: { x: 1 } }, { payload: { x: 2 } }]);
    const other = await tasks.batchTrigger("handle", [{ payload: { x: 3 } }]);
    const viaToken = await as(mine.publicAccessToken, () => batch.retrieve(mine.batchId));
    expect(viaToken.id).toBe(mine.batchId);
    for (const runId of viaToken.runs)
      expect((await as(mine.publicAccessToken, () => runs.retrieve(runId))).taskIdentifier).toBe("handle");
    await expect(as(mine.publicAccessToken, () => batch.retrieve(other.batchId))).rejects.toEqual(refusedWith(403));

    // The v1 GET and the tRPC procedures apply the same rules.
    const v1 = await salvo.api(`/api/v1/batches/${other.batchId}`, {
      headers: { authorization: `Bearer ${mine.publicAccessToken}` },
    });
    expect(v1.status).toBe(403);
    expect(await v1.json()).toEqual(
      expect.objectContaining({ error: expect.stringContaining(`read:batch:${other.batchId}`) }),
    );
    const trpc = createSalvoClient({ url: salvo.url, apiKey: mine.publicAccessToken });
    expect((await trpc.batch.get.query({ batchId: mine.batchId })).runs).toEqual(viaToken.runs);
    expect((await trpc.run.get.query({ runId: viaToken.runs[0]! })).payload).toEqual({ x: 1 });
    const refused = await trpc.batch.get.query({ batchId: other.batchId }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(TRPCClientError);
    expect((refused as { data?: { code?: string } }).data?.code).toBe("FORBIDDEN");
    // Read-only: the token cannot create, list or trigger.
    await expect(trpc.run.list.query({})).rejects.toBeInstanceOf(TRPCClientError);
    const create = await salvo.api("/api/v3/batches", {
      json: { runCount: 1 },
      headers: { authorization: `Bearer ${mine.publicAccessToken}` },
    });
    expect(create.status).toBe(401);
  });

  it("the run handle of tasks.trigger reads its run", async () => {
    const handle = await tasks.trigger("single", { y: 1 });
    expect((await as(handle.publicAccessToken, () => runs.retrieve(handle.id))).payload).toEqual({ y: 1 });
  });
});

describe("bad tokens", () => {
  it("a token with a bad signature, or expired, gets 401", async () => {
    const run = await tasks.trigger("scoped", {});
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      sub: salvo.env.environmentId,
      pub: true,
      scopes: [`read:runs:${run.id}`],
      iss: JWT_ISSUER,
      aud: JWT_AUDIENCE,
      iat: now - 120,
    };
    const forged = await signHs256({ ...claims, exp: now + 600 }, "tr_dev_not_the_real_key_at_all");
    const expired = await signHs256({ ...claims, exp: now - 60 }, salvo.key);
    await expect(as(forged, () => runs.retrieve(run.id))).rejects.toEqual(refusedWith(401));
    await expect(as(expired, () => runs.retrieve(run.id))).rejects.toEqual(refusedWith(401));
    const res = await salvo.api(`/api/v3/runs/${run.id}`, { headers: { authorization: `Bearer ${expired}` } });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({
      error: "Public Access Token has expired",
      message: "Public Access Token has expired",
    });
  });
});
