import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey, revokeApiKey } from "../server/auth/environments.js";
import { hashSecretKey } from "../server/auth/keys.js";
import { loadConfig } from "../server/config.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";

let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo();
});
afterAll(() => salvo?.close());

const presign = async (path: string, key = salvo.key) => {
  const res = await salvo.api(`/api/v2/packets/${encodeURIComponent(path)}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${key}` },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { presignedUrl: string }).presignedUrl;
};
const readUrl = async (path: string, key = salvo.key) => {
  const res = await salvo.api(`/api/v1/packets/${encodeURIComponent(path)}`, {
    headers: { authorization: `Bearer ${key}` },
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { presignedUrl: string }).presignedUrl;
};
const HTML = "<html><script>alert(document.domain)</script></html>";

function expectInert(res: Response) {
  expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  expect(res.headers.get("content-disposition")).toBe("attachment");
  expect(res.headers.get("content-security-policy")).toMatch(/^sandbox; default-src 'none'/);
}

describe("packets cannot host pages under the API's origin", () => {
  it("a text/html packet is served as an inert attachment", async () => {
    const put = await fetch(await presign("site/index.html"), {
      method: "PUT",
      headers: { "content-type": "text/html" },
      body: HTML,
    });
    expect(put.status).toBe(200);
    const res = await fetch(await readUrl("site/index.html"));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(HTML); // the bytes are still exactly what was uploaded
    expectInert(res);
  });

  it("so is a run payload stored with payloadType text/html", async () => {
    const trigger = await salvo.api("/api/v1/tasks/page/trigger", {
      json: { payload: HTML, options: { payloadType: "text/html" } },
    });
    expect(trigger.status).toBe(200);
    const { id } = (await trigger.json()) as { id: string };
    const link = await salvo.api(`/api/v1/runs/${id}/packets/payload`);
    const res = await fetch(((await link.json()) as { presignedUrl: string }).presignedUrl);
    expect(res.status).toBe(200);
    expectInert(res);
  });
});

describe("where signed URLs point without SALVO_PUBLIC_URL", () => {
  it("at the address the server listens on, whatever Host header the request carries", async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const req = request(`${salvo.url}/api/v2/packets/host.json`, {
        method: "PUT",
        headers: {
          host: "evil.example.com",
          authorization: `Bearer ${salvo.key}`,
          "x-forwarded-host": "evil.example.com",
        },
      });
      req.on("response", (res) => {
        let text = "";
        res.on("data", (d) => (text += String(d)));
        res.on("end", () => resolve(text));
      });
      req.on("error", reject);
      req.end();
    });
    const { presignedUrl } = JSON.parse(body) as { presignedUrl: string };
    expect(new URL(presignedUrl).origin).toBe(new URL(salvo.url).origin);
  });

  it("a server listening beyond loopback needs SALVO_PUBLIC_URL, and says so at start", () => {
    expect(() => loadConfig({ HOST: "0.0.0.0" })).toThrow(
      /SALVO_PUBLIC_URL is required when HOST is not a loopback address/,
    );
    expect(() => loadConfig({ HOST: "10.1.2.3" })).toThrow(/SALVO_PUBLIC_URL/);
    expect(loadConfig({ HOST: "0.0.0.0", SALVO_PUBLIC_URL: "https://salvo.example.com/" }).packets.publicUrl).toBe(
      "https://salvo.example.com",
    );
    for (const host of ["127.0.0.1", "::1", "localhost"]) expect(loadConfig({ HOST: host }).host).toBe(host);
  });
});

describe("signed URLs die with the key that asked for them", () => {
  it("revoking the key refuses its upload and read URLs (403); another key's URLs still work", async () => {
    const second = await createApiKey(salvo.deps, salvo.env.environmentId);
    const upload = await presign("revoked/payload.json", second);
    expect((await fetch(upload, { method: "PUT", body: '{"a":1}' })).status).toBe(200);
    const read = await readUrl("revoked/payload.json", second);
    const keepUpload = await presign("revoked/payload.json");
    const keepRead = await readUrl("revoked/payload.json");
    expect((await fetch(read)).status).toBe(200);

    const row = await salvo.deps.db
      .selectFrom("api_keys")
      .select("id")
      .where("key_hash", "=", hashSecretKey(second))
      .executeTakeFirstOrThrow();
    expect(await revokeApiKey(salvo.deps, row.id)).toBe(true);

    for (const [url, method] of [
      [read, "GET"],
      [upload, "PUT"],
    ] as const) {
      const res = await fetch(url, { method, body: method === "PUT" ? "{}" : undefined });
      expect(res.status, method).toBe(403);
      expect(((await res.json()) as { error: string }).error).toBe(
        "The key this packet URL was issued to has been revoked",
      );
    }
    expect((await fetch(keepRead)).status).toBe(200);
    expect((await fetch(keepUpload, { method: "PUT", body: '{"b":2}' })).status).toBe(200);
  });

  it("a URL handed to a public token dies with the key that signed the token", async () => {
    const second = await createApiKey(salvo.deps, salvo.env.environmentId);
    const trigger = await salvo.api("/api/v1/tasks/t/trigger", {
      json: { payload: { big: 1 } },
      headers: { authorization: `Bearer ${second}` },
    });
    const jwt = trigger.headers.get("x-trigger-jwt")!;
    const { id } = (await trigger.json()) as { id: string };
    const link = await salvo.api(`/api/v1/runs/${id}/packets/payload`, { headers: { authorization: `Bearer ${jwt}` } });
    expect(link.status).toBe(200);
    const url = ((await link.json()) as { presignedUrl: string }).presignedUrl;
    expect((await fetch(url)).status).toBe(200);
    const row = await salvo.deps.db
      .selectFrom("api_keys")
      .select("id")
      .where("key_hash", "=", hashSecretKey(second))
      .executeTakeFirstOrThrow();
    await revokeApiKey(salvo.deps, row.id);
    expect((await fetch(url)).status).toBe(403);
  });
});
