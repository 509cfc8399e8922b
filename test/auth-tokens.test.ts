import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JWT_AUDIENCE, JWT_ISSUER, signHs256 as sign } from "../server/auth/jwt.js";
import { verifyPublicToken } from "../server/auth/tokens.js";
import { KeyVault } from "../server/auth/vault.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";

let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo();
});
afterAll(() => salvo?.close());

/** Signs with the issuer and audience public tokens carry (overridable). */
const signHs256 = (claims: Record<string, unknown>, key: string) =>
  sign({ iss: JWT_ISSUER, aud: JWT_AUDIENCE, ...claims }, key);
const verify = (token: string) => verifyPublicToken(salvo.deps, token);
const now = () => Math.floor(Date.now() / 1000);

describe("public access tokens", () => {
  it("verifies the x-trigger-jwt a batch create hands out", async () => {
    const res = await salvo.api("/api/v3/batches", { json: { runCount: 1 } });
    const { id } = (await res.json()) as { id: string };
    const claims = await verify(res.headers.get("x-trigger-jwt")!);
    expect(claims).toMatchObject({ environmentId: salvo.env.environmentId, scopes: [`read:batch:${id}`] });
  });

  it("verifies a token the SDK signs itself with the secret key", async () => {
    const token = await signHs256(
      { sub: salvo.env.environmentId, pub: true, scopes: ["read:runs:run_x"], exp: now() + 60 },
      salvo.key,
    );
    await expect(verify(token)).resolves.toMatchObject({
      environmentId: salvo.env.environmentId,
      scopes: ["read:runs:run_x"],
    });
  });

  it("refuses a tampered, expired, foreign-signed or non-public token", async () => {
    const good = await signHs256(
      { sub: salvo.env.environmentId, pub: true, scopes: ["read:batch:a"], exp: now() + 60 },
      salvo.key,
    );
    const [h, , s] = good.split(".");
    const widened = Buffer.from(
      JSON.stringify({ sub: salvo.env.environmentId, pub: true, scopes: ["admin"], exp: now() + 60 }),
    ).toString("base64url");
    await expect(verify(`${h}.${widened}.${s}`)).rejects.toThrow("Public Access Token is invalid");
    await expect(
      verify(await signHs256({ sub: salvo.env.environmentId, pub: true, exp: now() - 1 }, salvo.key)),
    ).rejects.toThrow("expired");
    const other = await salvo.newEnvironment();
    await expect(
      verify(await signHs256({ sub: salvo.env.environmentId, pub: true, exp: now() + 60 }, other.secretKey)),
    ).rejects.toThrow("invalid");
    await expect(verify(await signHs256({ sub: salvo.env.environmentId, exp: now() + 60 }, salvo.key))).rejects.toThrow(
      "invalid",
    );
    await expect(
      verify(
        await signHs256({ sub: salvo.env.environmentId, pub: true, exp: now() + 60, iss: "someone-else" }, salvo.key),
      ),
    ).rejects.toThrow("invalid");
    await expect(
      verify(
        await signHs256(
          { sub: salvo.env.environmentId, pub: true, exp: now() + 60, aud: "https://elsewhere" },
          salvo.key,
        ),
      ),
    ).rejects.toThrow("invalid");
  });

  it("keeps keys encrypted: only the vault's master secret opens them", () => {
    const sealed = new KeyVault("master-secret-one").encrypt("tr_dev_abc");
    expect(sealed).not.toContain("tr_dev_abc");
    expect(new KeyVault("master-secret-one").decrypt(sealed)).toBe("tr_dev_abc");
    expect(new KeyVault("master-secret-two").decrypt(sealed)).toBeUndefined();
  });
});

describe("secret-key endpoints", () => {
  it("refuse a valid public token with 401", async () => {
    const token = await signHs256(
      { sub: salvo.env.environmentId, pub: true, scopes: ["admin"], exp: now() + 60 },
      salvo.key,
    );
    const res = await salvo.api("/api/v3/batches", {
      json: { runCount: 1 },
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toContain("secret key");
  });
});
