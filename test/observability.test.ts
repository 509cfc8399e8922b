import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createSalvoClient, createWorker, type Worker } from "../client/index.js";
import { transaction } from "../db/transaction.js";
import { createLogger } from "../server/observability/log.js";
import { countRunsCreated } from "../server/observability/metrics.js";
import { prettyLine } from "../server/observability/pretty.js";
import { ownDatabase } from "./support/own-database.js";
import { ndjson, startTestSalvo, type TestSalvo } from "./support/salvo.js";
import { waitFor } from "./support/wait.js";

/**
 * What an operator sees from outside: `GET /metrics` after a batch ran through a worker (the
 * counters move by exactly what happened), who may scrape, and the log of that work (quiet at
 * `info`, one line per failed execution with its ids, no credential).
 */
let salvo: TestSalvo;
let database: Awaited<ReturnType<typeof ownDatabase>>;
const log: string[] = [];
const workers: Worker[] = [];

beforeAll(async () => {
  // The sweeps expire leases and TTLs in every environment of their database, and the counters
  // are the process's: on a Postgres shared with other files they would count those files' runs.
  database = await ownDatabase();
  salvo = await startTestSalvo(
    {
      ...database.env,
      SALVO_LOG_LEVEL: "info",
      SALVO_RETRY_BASE_MS: "20",
      SALVO_RETRY_MAX_MS: "100",
      SALVO_SWEEP_INTERVAL_MS: "50",
      SALVO_METRICS_QUEUE_REFRESH_MS: "0",
      SALVO_LEASE_MS: "1000",
    },
    { logStream: { write: (line) => void log.push(line) } },
  );
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop({ graceMs: 2000 })));
});
afterAll(async () => {
  await salvo?.close();
  await database?.drop();
});

/** Every sample of a scrape, by series (`name{labels}`, labels as Prometheus writes them). */
async function scrape(url = salvo.url, init?: RequestInit): Promise<Map<string, number>> {
  const res = await fetch(`${url}/metrics`, init);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  const samples = new Map<string, number>();
  for (const line of (await res.text()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return samples;
}
/** How much each series moved between two scrapes (a series absent before counts from 0). */
const moved = (before: Map<string, number>, after: Map<string, number>, series: string) =>
  (after.get(series) ?? 0) - (before.get(series) ?? 0);

const batchStatus = async (batchId: string) => {
  const res = await salvo.api(`/api/v1/batches/${batchId}`);
  return ((await res.json()) as { status: string }).status;
};

describe("GET /metrics after a batch ran through a worker", () => {
  it("counts batches, items, runs, retries and requests by exactly what happened", async () => {
    const task = `obs-${Date.now()}`;
    const boom = `${task}-boom`;
    const before = await scrape();

    // One-shot: 3 runs that succeed, 2 that fail on both of their 2 attempts.
    const oneShot = await salvo.api("/api/v1/tasks/batch", {
      json: {
        items: [
          ...[1, 2, 3].map((n) => ({ task, payload: { n } })),
          ...[4, 5].map((n) => ({ task: boom, payload: { n }, options: { maxAttempts: 2 } })),
        ],
      },
    });
    expect(oneShot.status).toBe(200);
    const { batchId: first } = (await oneShot.json()) as { batchId: string };
    // Two-phase: 2 more runs that succeed.
    const created = await salvo.api("/api/v3/batches", { json: { runCount: 2 } });
    const { id: second } = (await created.json()) as { id: string };
    const streamed = await salvo.api(`/api/v3/batches/${second}/items`, {
      method: "POST",
      headers: { "content-type": "application/x-ndjson" },
      body: ndjson([0, 1].map((index) => ({ index, task, payload: { index } }))),
    });
    expect(streamed.status).toBe(200);

    // Queued, per queue, before any worker: the gauges count this environment's queues exactly.
    const queued = await scrape();
    const queue = (name: string) => `{environment="${salvo.env.environmentId}",queue="task/${name}"}`;
    const queueSeries = [...queued.keys()].filter((k) => k.startsWith("salvo_queue_queued_runs{"));
    expect(queueSeries.filter((k) => k.includes(salvo.env.environmentId))).toHaveLength(2);
    expect(queued.get(`salvo_queue_queued_runs${queue(task)}`)).toBe(5);
    expect(queued.get(`salvo_queue_queued_runs${queue(boom)}`)).toBe(2);
    expect(queued.get(`salvo_queue_executing_runs${queue(task)}`)).toBe(0);

    workers.push(
      createWorker({
        url: salvo.url,
        apiKey: salvo.key,
        concurrency: 5,
        pollWaitMs: 500,
        tasks: {
          [task]: async () => ({ ok: true }),
          [boom]: async () => {
            throw new Error("boom on purpose");
          },
        },
      }),
    );
    await waitFor(
      async () =>
        ((await batchStatus(first)) === "COMPLETED" && (await batchStatus(second)) === "COMPLETED") || undefined,
      60_000,
      "both batches COMPLETED",
    );
    const after = await scrape();
    const counted = (series: string) => moved(before, after, series);

    expect(counted('salvo_batches_created_total{api="one_shot"}')).toBe(1);
    expect(counted('salvo_batches_created_total{api="two_phase"}')).toBe(1);
    expect(counted('salvo_batch_items_ingested_total{api="one_shot"}')).toBe(5);
    expect(counted('salvo_batch_items_ingested_total{api="two_phase"}')).toBe(2);
    expect(counted("salvo_runs_created_total")).toBe(7);
    expect(counted('salvo_runs_finished_total{status="COMPLETED"}')).toBe(5);
    expect(counted('salvo_runs_finished_total{status="FAILED"}')).toBe(2);
    expect(counted("salvo_run_retries_total")).toBe(2);
    expect(counted('salvo_lease_expiries_total{reason="lease_expired"}')).toBe(0);
    expect(counted('salvo_http_requests_total{method="POST",route="/api/v1/tasks/batch",status="200"}')).toBe(1);
    expect(
      counted('salvo_http_requests_total{method="POST",route="/api/v3/batches/:batchId/items",status="200"}'),
    ).toBe(1);
    // Routes by template only: no series names a batch id.
    expect([...after.keys()].filter((k) => k.includes(first) || k.includes(second))).toEqual([]);
    // Every executed run was claimed by a dequeue that answered runs.
    expect(counted('salvo_dequeue_wait_seconds_count{outcome="claimed"}')).toBeGreaterThan(0);
    expect(counted("salvo_claim_duration_seconds_count")).toBeGreaterThan(0);
    expect(after.get(`salvo_queue_queued_runs${queue(task)}`)).toBe(0);
    expect(after.get("process_cpu_user_seconds_total")).toBeGreaterThan(0);

    // The log of that work: quiet at info (no request lines), and exactly one warn line per failed
    // execution, naming run, task and batch, with the request that reported it.
    const lines = log.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => l.msg === "incoming request" || l.msg === "request completed")).toEqual([]);
    const failures = lines.filter((l) => l.task === boom);
    expect(failures.filter((l) => l.msg === "run failed, will retry")).toHaveLength(2);
    expect(failures.filter((l) => l.msg === "run failed")).toHaveLength(2);
    expect(failures).toHaveLength(4);
    for (const line of failures) expect(line).toMatchObject({ level: 40, batchId: first });
    const runs = (await (await salvo.api(`/api/v1/batches/${first}`)).json()) as { runs: string[] };
    expect(new Set(failures.map((l) => l.runId))).toEqual(new Set(runs.runs.slice(3)));
    for (const line of failures) {
      expect(line.reqId).toMatch(/^req_[0-9a-f]{16}$/);
      expect(line.error).toBe("Error: boom on purpose");
    }
    const text = log.join("");
    const jwt = oneShot.headers.get("x-trigger-jwt")!;
    for (const secret of [salvo.key, jwt, jwt.split(".")[2]!]) expect(text.includes(secret)).toBe(false);
  }, 90_000);

  it("counts a cancel, a TTL expiry and a lease expiry, each once, and logs the run its worker lost", async () => {
    const before = await scrape();
    const cancel = (await (await salvo.api("/api/v1/tasks/obs-cancel/trigger", { json: {} })).json()) as { id: string };
    expect((await salvo.api(`/api/v2/runs/${cancel.id}/cancel`, { method: "POST" })).status).toBe(200);
    const expire = (await (
      await salvo.api("/api/v1/tasks/obs-expire/trigger", { json: { options: { ttl: "1s" } } })
    ).json()) as { id: string };
    // A worker that claims a run and is never heard of again: its lease (SALVO_LEASE_MS) runs out.
    const lost = (await (
      await salvo.api("/api/v1/tasks/obs-lost/trigger", { json: { options: { maxAttempts: 1 } } })
    ).json()) as { id: string };
    const client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
    await client.worker.register.mutate({ workerId: "obs-gone", tasks: ["obs-lost"] });
    const claimed = await client.worker.dequeue.mutate({ workerId: "obs-gone", tasks: ["obs-lost"], max: 1 });
    expect(claimed.map((r) => r.id)).toEqual([lost.id]);
    const statusOf = async (id: string) =>
      ((await (await salvo.api(`/api/v3/runs/${id}`)).json()) as { status: string }).status;
    await waitFor(
      async () =>
        (await statusOf(expire.id)) === "EXPIRED" && (await statusOf(lost.id)) === "FAILED" ? true : undefined,
      20_000,
      "the TTL run EXPIRED and the lost run FAILED",
    );
    const after = await scrape();
    const counted = (series: string) => moved(before, after, series);
    expect(counted('salvo_runs_finished_total{status="CANCELED"}')).toBe(1);
    expect(counted('salvo_runs_finished_total{status="EXPIRED"}')).toBe(1);
    expect(counted('salvo_runs_finished_total{status="FAILED"}')).toBe(1);
    expect(counted('salvo_lease_expiries_total{reason="lease_expired"}')).toBe(1);
    expect(counted("salvo_runs_created_total")).toBe(3);
    const lines = log.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.runId === lost.id);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 40,
        msg: "run failed",
        task: "obs-lost",
        attempt: 1,
        error: expect.stringMatching(/^WorkerGone: /),
      }),
    ]);
    // A background task runs in no request: its line names none.
    expect(lines[0]!.reqId).toBeUndefined();
  }, 60_000);

  it("counts nothing for a transaction that rolled back, and once for one retried after a lost race", async () => {
    const series = "salvo_runs_created_total";
    const before = await scrape();
    await expect(
      transaction(salvo.deps.db, async (trx) => {
        countRunsCreated(trx, 5);
        throw new Error("rolled back");
      }),
    ).rejects.toThrow("rolled back");
    let tries = 0;
    await transaction(salvo.deps.db, async (trx) => {
      countRunsCreated(trx, 3);
      // The first try loses a serialization race: its count must go with it.
      if (++tries === 1) throw Object.assign(new Error("could not serialize access"), { code: "40001" });
    });
    expect(tries).toBe(2);
    expect(moved(before, await scrape(), series)).toBe(3);
  });
});

describe("who may scrape", () => {
  it("answers loopback without a token, and refuses a request that came through a proxy", async () => {
    await scrape();
    const proxied = await fetch(`${salvo.url}/metrics`, { headers: { "x-forwarded-for": "203.0.113.9" } });
    expect(proxied.status).toBe(403);
    expect(((await proxied.json()) as { error: string }).error).toContain("SALVO_METRICS_TOKEN");
  });

  it("with SALVO_METRICS_TOKEN set, answers only the bearer of the token", async () => {
    const token = "metrics-token-0123456789abcdef";
    const guarded = await startTestSalvo({ SALVO_METRICS_TOKEN: token });
    try {
      for (const authorization of [undefined, "Bearer wrong-token", `Bearer ${token}x`, token]) {
        const res = await fetch(`${guarded.url}/metrics`, authorization ? { headers: { authorization } } : {});
        expect(res.status, String(authorization)).toBe(401);
        expect(res.headers.get("www-authenticate")).toMatch(/^Bearer /);
      }
      const samples = await scrape(guarded.url, { headers: { authorization: `Bearer ${token}` } });
      expect(samples.has("salvo_runs_created_total")).toBe(true);
    } finally {
      await guarded.close();
    }
  });
});

describe("the logger", () => {
  it("shows of a reply only its status, and no value of a credential field", () => {
    const lines: string[] = [];
    const logger = createLogger("info", { write: (line) => void lines.push(line) });
    const secret = "tr_dev_0123456789abcdefghijklmn";
    logger.info(
      {
        res: { statusCode: 500, request: { headers: { authorization: `Bearer ${secret}` } } },
        headers: { authorization: `Bearer ${secret}` },
        token: secret,
        nested: { apiKey: secret },
      },
      "with credentials",
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain(secret);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      res: { statusCode: 500 },
      headers: { authorization: "[redacted]" },
      token: "[redacted]",
      nested: { apiKey: "[redacted]" },
    });
  });
});

describe("a terminal's log lines", () => {
  it("are readable: time, level, message, then the fields", () => {
    const line = JSON.stringify({
      level: 40,
      time: Date.UTC(2026, 0, 2, 3, 4, 5, 678),
      pid: 1,
      hostname: "h",
      reqId: "req_1",
      runId: "run_1",
      msg: "run failed",
    });
    expect(prettyLine(line, false)).toBe("03:04:05.678 WARN  run failed  reqId=req_1 runId=run_1\n");
  });
});
