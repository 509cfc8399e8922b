import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSalvoClient, createWorker, type Worker } from "../client/index.js";
import type { BatchProgress } from "../shared/live.js";
import { type ChildSalvo, startChildSalvo } from "./support/child-server.js";
import { waitFor } from "./support/wait.js";

/**
 * Three server processes on one Postgres and one Redis, as behind a load balancer: what one
 * instance writes, another watches and a third hands to its workers, and nothing is done twice.
 * Needs both services (the in-process adapters serve one process only).
 */
const databaseUrl = process.env.DATABASE_URL;
const redisUrl = process.env.REDIS_URL;

describe.skipIf(!databaseUrl || !redisUrl)("three instances (needs DATABASE_URL and REDIS_URL)", () => {
  // One environment for all three: the same bootstrap key (the first start creates it, the others find it).
  const key = `tr_dev_${randomBytes(12).toString("hex")}`;
  let servers: ChildSalvo[] = [];
  const workers: Worker[] = [];
  beforeAll(async () => {
    // Small ingest chunks: a streamed batch commits (and wakes workers) while its stream is still open.
    const env = { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, SALVO_BOOTSTRAP_KEY: key };
    const extra = { SALVO_INGEST_CHUNK_ITEMS: "50" };
    const first = await startChildSalvo(env, extra);
    servers = [first, ...(await Promise.all([startChildSalvo(env, extra), startChildSalvo(env, extra)]))];
  }, 90_000);
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await Promise.all(servers.map((s) => s.close()));
  });

  it("a batch streamed through one, watched through another, executed by workers of the third: each run once", async () => {
    const [ingest, watch, execute] = servers as [ChildSalvo, ChildSalvo, ChildSalvo];
    const task = `three-instances-${randomBytes(4).toString("hex")}`;
    const executions = new Map<string, number>();
    for (let i = 0; i < 2; i++) {
      const worker = createWorker({
        url: execute.url,
        apiKey: key,
        concurrency: 5,
        tasks: {
          [task]: async (payload: { index: number }, ctx) => {
            executions.set(ctx.run.id, (executions.get(ctx.run.id) ?? 0) + 1);
            await new Promise((r) => setTimeout(r, 2));
            return { index: payload.index };
          },
        },
      });
      workers.push(worker);
      await worker.ready;
    }

    const runCount = 300;
    const created = await fetch(`${ingest.url}/api/v3/batches`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({ runCount }),
    });
    expect(created.status).toBe(202);
    const { id: batchId } = (await created.json()) as { id: string };

    // Watched through the second instance, from before the first item.
    const watcher = createSalvoClient({ url: watch.url, apiKey: key });
    const seen: BatchProgress[] = [];
    const final = new Promise<BatchProgress>((resolve, reject) => {
      const subscription = watcher.batch.watch.subscribe(
        { batchId },
        {
          onData: ({ data }) => {
            seen.push(data.batch);
            if (data.batch.final) {
              subscription.unsubscribe();
              resolve(data.batch);
            }
          },
          onError: reject,
        },
      );
    });

    // Streamed through the first: the first 100 items, then (once a worker of the third instance
    // has run one of them, so the stream is still open while runs execute) the rest.
    const line = (index: number) => `${JSON.stringify({ index, task, payload: { index } })}\n`;
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        for (let i = 0; i < 100; i++) controller.enqueue(encoder.encode(line(i)));
        await waitFor(() => (executions.size > 0 ? true : undefined), 20_000, "a run executed mid-stream");
        for (let i = 100; i < runCount; i++) controller.enqueue(encoder.encode(line(i)));
        controller.close();
      },
    });
    const streamed = await fetch(`${ingest.url}/api/v3/batches/${batchId}/items`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/x-ndjson" },
      body,
      duplex: "half",
    } as RequestInit);
    expect(streamed.status).toBe(200);

    const done = await final;
    expect(done).toMatchObject({ status: "COMPLETED", runs: { total: runCount, finished: runCount, failed: 0 } });
    expect(seen.length).toBeGreaterThan(1);

    const read = await fetch(`${watch.url}/api/v1/batches/${batchId}`, { headers: { authorization: `Bearer ${key}` } });
    const { runs } = (await read.json()) as { runs: string[] };
    expect(runs).toHaveLength(runCount);
    expect([...executions.keys()].sort()).toEqual([...runs].sort());
    expect([...executions.values()].every((n) => n === 1)).toBe(true);
  }, 60_000);
});
