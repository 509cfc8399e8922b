import type { ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSalvoClient } from "../../client/index.js";
import {
  type PrivatePostgres,
  type PrivateRedis,
  startPrivatePostgres,
  startPrivateRedis,
} from "../support/private-services.js";
import {
  api,
  itemLines,
  newKey,
  query,
  type ServerProcess,
  sleep,
  startServer,
  startWorker,
  streamItems,
} from "./support.js";

// Held result: Redis killed, then frozen (SIGSTOP), under one-shot batches, streams, a worker and
// a live watch: no 5xx, every batch completes, the watch ends with its batch.
let pg: PrivatePostgres;
let redis: PrivateRedis;
let server: ServerProcess;
let worker: ChildProcess;
const key = newKey();

beforeAll(async () => {
  [pg, redis] = await Promise.all([startPrivatePostgres(), startPrivateRedis()]);
  server = await startServer({ DATABASE_URL: pg.url, REDIS_URL: redis.url, SALVO_BOOTSTRAP_KEY: key });
  worker = startWorker(server.url, key, join(mkdtempSync(join(tmpdir(), "salvo-chaos-redis-")), "w.log"), 50);
});
afterAll(async () => {
  worker?.kill("SIGKILL");
  await server?.kill9();
  await redis?.close();
  await pg?.close();
});

describe("Redis killed and frozen under load", () => {
  it("no 5xx, nothing lost, everything completes", async () => {
    const statuses: number[] = [];
    const batches: { id: string; n: number }[] = [];
    let loading = true;
    const oneShots = (async () => {
      while (loading) {
        const res = await api(server.url, key, "/api/v1/tasks/record/batch", {
          json: { items: Array.from({ length: 20 }, (_, i) => ({ payload: { i } })) },
        });
        statuses.push(res.status);
        if (res.status === 200) batches.push({ id: ((await res.json()) as { batchId: string }).batchId, n: 20 });
        else await res.text();
        await sleep(50);
      }
    })();
    const streams = (async () => {
      while (loading) {
        const created = await api(server.url, key, "/api/v3/batches", { json: { runCount: 2000 } });
        statuses.push(created.status);
        if (created.status !== 202) continue;
        const { id } = (await created.json()) as { id: string };
        const r = await streamItems(server.url, key, id, [...itemLines(2000, "record")].join(""));
        statuses.push(r.status);
        if (r.status === 200) batches.push({ id, n: 2000 });
      }
    })();
    // A watch of a batch triggered now, which completes only after both faults.
    const client = createSalvoClient({ url: server.url, apiKey: key });
    const watched = await client.batch.trigger.mutate({
      items: [{ task: "record", payload: {}, options: { delay: "12s" } }],
    });
    const watchEnded = new Promise<string>((resolve, reject) => {
      const sub = client.batch.watch.subscribe(
        { batchId: watched.batchId },
        {
          onData: ({ data }) => {
            if (data.batch.status === "COMPLETED") {
              sub.unsubscribe();
              resolve(data.batch.status);
            }
          },
          onError: reject,
        },
      );
    });

    await sleep(1500);
    await redis.kill();
    await sleep(4000);
    await redis.start();
    await sleep(1500);
    redis.freeze();
    await sleep(4000);
    redis.thaw();
    await sleep(1500);
    loading = false;
    await Promise.all([oneShots, streams]);

    expect(statuses.filter((s) => s >= 500)).toEqual([]);
    expect(server.child.exitCode).toBeNull();
    expect(await watchEnded).toBe("COMPLETED");
    // Every acknowledged batch has exactly its runs, and all of them complete.
    for (const b of batches) {
      const [r] = await query<{ n: string }>(
        pg.url,
        "select count(distinct batch_index) as n from runs where batch_id = $1",
        [b.id],
      );
      expect(Number(r!.n), b.id).toBe(b.n === 20 ? 20 : 2000);
    }
    const total = batches.reduce((sum, b) => sum + b.n, 0);
    for (;;) {
      const [done] = await query<{ n: string }>(
        pg.url,
        "select count(*) as n from runs where batch_id = any($1) and status = 'COMPLETED'",
        [batches.map((b) => b.id)],
      );
      if (Number(done!.n) === total) break;
      await sleep(500);
    }
  });
});
