import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JWT_AUDIENCE, JWT_ISSUER, signHs256 } from "../server/auth/jwt.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";

/** One-time-use tokens, `nbf` and the lifetime cap, through the real server (SALVO_MAX_TOKEN_TTL_SECONDS = 2 h here). */
let salvo: TestSalvo;
let runId: string;
beforeAll(async () => {
  salvo = await startTestSalvo({ SALVO_MAX_TOKEN_TTL_SECONDS: "7200" });
  const res = await salvo.api("/api/v1/tasks/limits/trigger", { json: { payload: { n: 1 } } });
  runId = ((await res.json()) as { id: string }).id;
});
afterAll(() => salvo?.close());

const now = () => Math.floor(Date.now() / 1000);
/** A public token as the SDK signs it with the secret key. */
const token = (claims: Record<string, unknown>) =>
  signHs256(
    {
      sub: salvo.env.environmentId,
      pub: true,
      scopes: [`read:runs:${runId}`],
      iss: JWT_ISSUER,
      aud: JWT_AUDIENCE,
      iat: now(),
      exp: now() + 600,
      ...claims,
    },
    salvo.key,
  );
const readRun = (jwt: string) => salvo.api(`/api/v3/runs/${runId}`, { headers: { authorization: `Bearer ${jwt}` } });
const mint = (json: Record<string, unknown>) =>
  salvo.api("/api/v1/auth/public-tokens", { json: { scopes: [`read:runs:${runId}`], ...json } });

describe("one-time-use public tokens", () => {
  it("a token minted with oneTimeUse reads once, then gets 401", async () => {
    const { token: jwt } = (await (await mint({ oneTimeUse: true })).json()) as { token: string };
    expect((await readRun(jwt)).status).toBe(200);
    const again = await readRun(jwt);
    expect(again.status).toBe(401);
    expect(((await again.json()) as { error: string }).error).toBe(
      "This one-time-use Public Access Token has already been used",
    );
  });

  it("an SDK-signed token with otu: true is refused on its second use, over tRPC too; other tokens are reusable", async () => {
    const once = await token({ otu: true });
    expect((await readRun(once)).status).toBe(200);
    const trpc = await fetch(
      `${salvo.url}/trpc/run.get?input=${encodeURIComponent(JSON.stringify({ json: { runId } }))}`,
      {
        headers: { authorization: `Bearer ${once}` },
      },
    );
    expect(trpc.status).toBe(401);
    // Two distinct one-time tokens are two uses, not one.
    expect((await readRun(await token({ otu: true, scopes: [`read:runs:${runId}`, "read:tags:x"] }))).status).toBe(200);
    const many = await token({});
    for (let i = 0; i < 3; i++) expect((await readRun(many)).status).toBe(200);
  });
});

describe("nbf", () => {
  it("a token is refused before its nbf and accepted from it on", async () => {
    const early = await readRun(await token({ nbf: now() + 120 }));
    expect(early.status).toBe(401);
    expect(((await early.json()) as { error: string }).error).toBe("Public Access Token is not valid yet");
    expect((await readRun(await token({ nbf: now() - 1 }))).status).toBe(200);
    expect((await readRun(await token({ nbf: "soon" }))).status).toBe(401);
  });
});

describe("lifetime cap (SALVO_MAX_TOKEN_TTL_SECONDS)", () => {
  it("refuses a presented token whose lifetime is longer than the cap, however far away its exp", async () => {
    for (const claims of [
      { exp: now() + 1000 * 365 * 86_400 },
      { exp: now() + 7300 },
      { iat: now() - 3600, exp: now() + 3700 },
      { iat: undefined, exp: now() + 7300 },
    ]) {
      const res = await readRun(await token(claims));
      expect(res.status, JSON.stringify(claims)).toBe(401);
      expect(((await res.json()) as { error: string }).error).toContain(
        "lifetime is longer than this server allows (7200 s)",
      );
    }
    expect((await readRun(await token({ exp: now() + 7100 }))).status).toBe(200);
  });

  it("refuses to mint past the cap, and mints up to it", async () => {
    const far = await mint({ expirationTime: "1000w" });
    expect(far.status).toBe(400);
    expect(((await far.json()) as { error: string }).error).toContain("SALVO_MAX_TOKEN_TTL_SECONDS");
    expect((await mint({ expirationTime: now() + 100_000_000 })).status).toBe(400);
    const ok = await mint({ expirationTime: "2h" });
    expect(ok.status).toBe(200);
    expect((await readRun(((await ok.json()) as { token: string }).token)).status).toBe(200);
  });

  it("the tokens a batch or trigger answer carries live at most the cap", async () => {
    const short = await startTestSalvo({ SALVO_MAX_TOKEN_TTL_SECONDS: "600" });
    try {
      const res = await short.api("/api/v3/batches", { json: { runCount: 1 } });
      const claims = JSON.parse(
        Buffer.from(res.headers.get("x-trigger-jwt")!.split(".")[1]!, "base64url").toString(),
      ) as { iat: number; exp: number };
      expect(claims.exp - claims.iat).toBe(600);
      const { id } = (await res.json()) as { id: string };
      const read = await fetch(`${short.url}/api/v1/batches/${id}`, {
        headers: { authorization: `Bearer ${res.headers.get("x-trigger-jwt")}` },
      });
      expect(read.status).toBe(200);
    } finally {
      await short.close();
    }
  });
});
