import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type PrivatePostgres,
  type PrivateRedis,
  startPrivatePostgres,
  startPrivateRedis,
} from "../support/private-services.js";
import { api, itemLines, newKey, query, type ServerProcess, slowBody, startServer, streamItems } from "./support.js";

// Held result: a server killed with kill -9 in the middle of a large NDJSON stream, restarted,
// and the whole stream sent again gives exactly one run per index. Two servers taking the same
// stream at once do too.
const N = 30_000;
let pg: PrivatePostgres;
let redis: PrivateRedis;
const key = newKey();
const servers: ServerProcess[] = [];
let env: Record<string, string>;

beforeAll(async () => {
  [pg, redis] = await Promise.all([startPrivatePostgres(), startPrivateRedis()]);
  env = { DATABASE_URL: pg.url, REDIS_URL: redis.url, SALVO_BOOTSTRAP_KEY: key };
});
afterAll(async () => {
  for (const s of servers) if (s.child.exitCode === null) await s.kill9();
  await redis?.close();
  await pg?.close();
});
const start = async (port?: number) => {
  const server = await startServer(env, port);
  servers.push(server);
  return server;
};

async function createBatch(url: string): Promise<string> {
  const res = await api(url, key, "/api/v3/batches", { json: { runCount: N } });
  expect(res.status).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

/** Every index 0..N-1 is exactly one run of the batch, and the batch is sealed. */
async function expectExact(batchId: string) {
  const [runs] = await query<{ runs: string; indexes: string; lo: number; hi: number }>(
    pg.url,
    "select count(*) as runs, count(distinct batch_index) as indexes, min(batch_index) as lo, max(batch_index) as hi from runs where batch_id = $1",
    [batchId],
  );
  expect(runs).toEqual({ runs: String(N), indexes: String(N), lo: 0, hi: N - 1 });
  const [items] = await query<{ items: string }>(
    pg.url,
    "select count(*) as items from batch_items where batch_id = $1",
    [batchId],
  );
  expect(items!.items).toBe(String(N));
  const [batch] = await query<{ sealed: boolean }>(pg.url, "select sealed from batches where id = $1", [batchId]);
  expect(batch!.sealed).toBe(true);
}

describe("server killed with kill -9 mid-stream", () => {
  it("restarted and sent the whole stream again: every index once", async () => {
    const first = await start();
    const batchId = await createBatch(first.url);
    // A slow client: 1,000 lines every 50 ms, so the kill lands mid-way.
    const cut = streamItems(first.url, key, batchId, slowBody(itemLines(N, "chaos"), 1000, 50));
    for (;;) {
      const [row] = await query<{ n: string }>(pg.url, "select count(*) as n from batch_items where batch_id = $1", [
        batchId,
      ]);
      if (Number(row!.n) >= N / 4) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await first.kill9();
    const [mid] = await query<{ n: string }>(pg.url, "select count(*) as n from batch_items where batch_id = $1", [
      batchId,
    ]);
    expect(Number(mid!.n)).toBeLessThan(N);
    expect((await cut).status).toBe(0); // the connection died with the server

    const second = await start(first.port);
    const resent = await streamItems(second.url, key, batchId, [...itemLines(N, "chaos")].join(""));
    expect(resent.status, resent.body).toBe(200);
    expect(JSON.parse(resent.body)).toMatchObject({ sealed: true, itemsAccepted: N - Number(mid!.n) });
    await expectExact(batchId);
    expect(await second.term()).toBe(0);
  });

  it("two servers taking the same stream at once: every index once", async () => {
    const [a, b] = await Promise.all([start(), start()]);
    const batchId = await createBatch(a.url);
    const body = () => slowBody(itemLines(N, "race"), 2000, 5);
    const results = await Promise.all([
      streamItems(a.url, key, batchId, body()),
      streamItems(b.url, key, batchId, body()),
    ]);
    for (const r of results) expect(r.status, r.body).toBe(200);
    const accepted = results.map((r) => (JSON.parse(r.body) as { itemsAccepted: number }).itemsAccepted);
    expect(accepted[0]! + accepted[1]!).toBe(N);
    await expectExact(batchId);
    expect(a.child.exitCode).toBeNull();
    expect(b.child.exitCode).toBeNull();
  });
});
