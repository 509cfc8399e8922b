import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type PrivatePostgres,
  type PrivateRedis,
  startPrivatePostgres,
  startPrivateRedis,
} from "../support/private-services.js";
import { api, newKey, query, type ServerProcess, sleep, startServer, startWorker } from "./support.js";

// A worker killed with kill -9 mid-batch: every run completes, and the runs it held are running
// again elsewhere within seconds (its presence stream closed), not after the 30 s lease.
let pg: PrivatePostgres;
let redis: PrivateRedis;
let server: ServerProcess;
const key = newKey();
const workers: ChildProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), "salvo-chaos-workers-"));
const records = (file: string) =>
  readFileSync(file, { encoding: "utf8", flag: "a+" })
    .split("\n")
    .filter(Boolean)
    .map((l) => l.split(" ")[0]!);

beforeAll(async () => {
  [pg, redis] = await Promise.all([startPrivatePostgres(), startPrivateRedis()]);
  server = await startServer({ DATABASE_URL: pg.url, REDIS_URL: redis.url, SALVO_BOOTSTRAP_KEY: key });
});
afterAll(async () => {
  for (const w of workers) w.kill("SIGKILL");
  await server?.kill9();
  await redis?.close();
  await pg?.close();
});

describe("worker killed with kill -9 mid-batch", () => {
  it("every run completes; the killed worker's runs run again within 5 s", async () => {
    const files = [join(dir, "a.log"), join(dir, "b.log")];
    const [doomed, survivor] = files.map((f) => startWorker(server.url, key, f, 20));
    workers.push(doomed!, survivor!);
    let doomedOut = "";
    doomed!.stdout!.on("data", (d) => (doomedOut += String(d)));
    const items = Array.from({ length: 600 }, () => ({
      task: "slow",
      payload: { ms: 300 },
      options: { maxAttempts: 3 },
    }));
    const res = await api(server.url, key, "/api/v1/tasks/batch", { json: { items: items.map((i) => ({ ...i })) } });
    expect(res.status).toBe(200);
    const { batchId } = (await res.json()) as { batchId: string };

    // Mid-batch: the doomed worker has finished some runs and holds others.
    while (records(files[0]!).length < 100) await sleep(50);
    const doomedId = /worker (worker_\w+) serving/.exec(doomedOut)![1]!;
    doomed!.kill("SIGKILL");
    await new Promise((r) => doomed!.once("exit", r));
    const killedAt = Date.now();
    const held = await query<{ id: string }>(
      pg.url,
      "select id from runs where batch_id = $1 and status = 'EXECUTING' and lease_owner = $2",
      [batchId, doomedId],
    );
    expect(held.length).toBeGreaterThan(0);

    // Recovery: every run the killed worker held is claimed again (by the survivor).
    let recoveredMs = 0;
    for (;;) {
      const again = new Set(records(files[1]!));
      if (held.every((r) => again.has(r.id))) {
        recoveredMs = Date.now() - killedAt;
        break;
      }
      if (Date.now() - killedAt > 30_000) throw new Error("the killed worker's runs were not taken over within 30 s");
      await sleep(50);
    }
    console.log(`chaos: ${held.length} runs of a killed worker running again after ${recoveredMs} ms`);
    // Well under the 30 s lease, which is what would recover them without the presence rule.
    expect(recoveredMs).toBeLessThan(15_000);

    for (;;) {
      const [b] = await query<{ status: string }>(pg.url, "select status from batches where id = $1", [batchId]);
      if (b!.status === "COMPLETED") break;
      await sleep(200);
    }
    const statuses = await query<{ status: string; n: string }>(
      pg.url,
      "select status, count(*) as n from runs where batch_id = $1 group by status",
      [batchId],
    );
    expect(statuses).toEqual([{ status: "COMPLETED", n: "600" }]);
    // At least once: every run executed; only the killed worker's in-flight runs twice.
    const executions = [...records(files[0]!), ...records(files[1]!)];
    expect(new Set(executions).size).toBe(600);
    expect(executions.length - 600).toBeLessThanOrEqual(held.length);
    // A crash counts as an attempt: the retried runs are on attempt 2.
    const [retried] = await query<{ n: string }>(
      pg.url,
      "select count(*) as n from runs where batch_id = $1 and attempt = 2",
      [batchId],
    );
    expect(Number(retried!.n)).toBe(held.length);
  });
});
