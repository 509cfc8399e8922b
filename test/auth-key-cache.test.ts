import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApiKey, revokeApiKey } from "../server/auth/environments.js";
import { KeyCache } from "../server/auth/key-cache.js";
import { hashSecretKey } from "../server/auth/keys.js";
import { startChildSalvo } from "./support/child-server.js";
import { errorBody, startTestSalvo, type TestSalvo } from "./support/salvo.js";

// Servers trust a key they accepted for SALVO_AUTH_CACHE_MS without asking Postgres again
// (server/auth/key-cache.ts); these pin how soon a revocation takes effect all the same.
const CACHE_MS = 400;

let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo({ SALVO_AUTH_CACHE_MS: String(CACHE_MS) });
});
afterAll(() => salvo?.close());

const createBatchWith = (url: string, key: string) =>
  fetch(`${url}/api/v3/batches`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ runCount: 1 }),
  });

/** A second key of the test environment, and its id. */
async function newKey(): Promise<{ key: string; id: string }> {
  const key = await createApiKey(salvo.deps, salvo.env.environmentId);
  const { id } = await salvo.deps.db
    .selectFrom("api_keys")
    .select("id")
    .where("key_hash", "=", hashSecretKey(key))
    .executeTakeFirstOrThrow();
  return { key, id };
}

/** Asks until the key is refused; answers how long that took (or throws after `withinMs`). */
async function msUntilRefused(url: string, key: string, withinMs: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    const res = await createBatchWith(url, key);
    if (res.status === 401) {
      expect(await res.json()).toEqual(errorBody("Invalid API key"));
      return Date.now() - started;
    }
    expect(res.status).toBe(202);
    if (Date.now() - started > withinMs) throw new Error(`revoked key still accepted after ${withinMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("cached authentication", () => {
  it("a key revoked in this process is refused at once, though the server had just accepted it", async () => {
    const { key, id } = await newKey();
    for (let i = 0; i < 3; i++) expect((await createBatchWith(salvo.url, key)).status).toBe(202);
    expect(await revokeApiKey(salvo.deps, id)).toBe(true);
    const res = await createBatchWith(salvo.url, key);
    expect(res.status).toBe(401);
    expect((await createBatchWith(salvo.url, salvo.key)).status).toBe(202);
  });

  it("a revocation nobody announces (an operator's UPDATE) is refused within SALVO_AUTH_CACHE_MS", async () => {
    const { key, id } = await newKey();
    expect((await createBatchWith(salvo.url, key)).status).toBe(202);
    await salvo.deps.db.updateTable("api_keys").set({ revoked_at: new Date() }).where("id", "=", id).execute();
    // The entry was made at most a request ago, so it is gone CACHE_MS after the update at the latest.
    expect(await msUntilRefused(salvo.url, key, CACHE_MS + 1_000)).toBeLessThanOrEqual(CACHE_MS + 250);
  });

  it("a lookup that read the key before a revocation arrived does not put it back", () => {
    const cache = new KeyCache(60_000);
    const entry = { keyId: "key_a", environment: { id: "env_a", project: "p", type: "dev" as const } };
    const before = cache.generation();
    cache.forgetKey("key_a");
    cache.set("digest-a", entry, before);
    expect(cache.get("digest-a")).toBeUndefined();
    cache.set("digest-a", entry, cache.generation());
    expect(cache.get("digest-a")).toMatchObject(entry);
    cache.forgetKey("key_a");
    expect(cache.get("digest-a")).toBeUndefined();
  });
});

const haveServices = Boolean(process.env.DATABASE_URL && process.env.REDIS_URL);

describe.skipIf(!haveServices)("two server processes on one Postgres and Redis", () => {
  // PGlite is one process's embedded database: a second process cannot share it.
  it("a key revoked through one is refused by the other as soon as the announcement arrives", async () => {
    // A cache that would trust the key for ten minutes: only the announcement can make it refuse.
    const child = await startChildSalvo(
      { DATABASE_URL: process.env.DATABASE_URL!, REDIS_URL: process.env.REDIS_URL! },
      { SALVO_AUTH_CACHE_MS: "600000" },
    );
    try {
      const { key, id } = await newKey();
      expect((await createBatchWith(child.url, key)).status).toBe(202);
      expect(await revokeApiKey(salvo.deps, id)).toBe(true);
      expect(await msUntilRefused(child.url, key, 2_000)).toBeLessThan(1_000);
      expect((await createBatchWith(child.url, child.key)).status).toBe(202);
    } finally {
      await child.close();
    }
  }, 90_000);
});
