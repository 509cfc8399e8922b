import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type PrivatePostgres, startPrivatePostgres } from "../support/private-services.js";
import { api, newKey, query, type ServerProcess, sleep, startServer } from "./support.js";

// A Postgres restarted or stopped under load (a failover, an upgrade) must not kill the server. During the outage every request gets a quick 503 with x-should-retry: true;
// the same process serves again once Postgres is back; a request that failed left nothing behind.
let pg: PrivatePostgres;
let server: ServerProcess;
const key = newKey();

beforeAll(async () => {
  pg = await startPrivatePostgres();
  server = await startServer({ DATABASE_URL: pg.url, SALVO_BOOTSTRAP_KEY: key });
});
afterAll(async () => {
  if (server?.child.exitCode === null) await server.kill9();
  await pg?.close();
});

interface Answer {
  status: number;
  retry: string | null;
  ms: number;
  batchId?: string;
}

/** One-shot batches of 10 items of `task` from 8 clients of `target` until `loading()` is false. */
async function load(task: string, loading: () => boolean, target = server): Promise<Answer[]> {
  const answers: Answer[] = [];
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (loading()) {
        const t0 = Date.now();
        try {
          const res = await api(target.url, key, `/api/v1/tasks/${task}/batch`, {
            json: { items: Array.from({ length: 10 }, (_, i) => ({ payload: { i } })) },
            signal: AbortSignal.timeout(10_000),
          });
          const body = (await res.json()) as { batchId?: string };
          answers.push({
            status: res.status,
            retry: res.headers.get("x-should-retry"),
            ms: Date.now() - t0,
            batchId: body.batchId,
          });
        } catch {
          answers.push({ status: 0, retry: null, ms: Date.now() - t0 });
          await sleep(100);
        }
      }
    }),
  );
  return answers;
}

/** The batches and runs of `task` are exactly those of the requests answered 200. */
async function expectNothingLeftBehind(task: string, answers: Answer[]) {
  const ok = answers.filter((a) => a.status === 200).map((a) => a.batchId!);
  const [row] = await query<{ batches: string; runs: string }>(
    pg.url,
    "select count(distinct batch_id) as batches, count(*) as runs from runs where task_identifier = $1",
    [task],
  );
  expect(Number(row!.batches)).toBe(ok.length);
  expect(Number(row!.runs)).toBe(ok.length * 10);
}

describe("Postgres restarted and stopped under load (issue 11, defect 1)", () => {
  it("restart (pg_ctl -m fast): the server survives and serves again", async () => {
    let loading = true;
    const answers = load("pg-restart", () => loading);
    await sleep(1500);
    await pg.stop("fast");
    await pg.start();
    await sleep(3000);
    loading = false;
    const all = await answers;
    expect(server.child.exitCode).toBeNull();
    expect(all.filter((a) => a.status >= 500 && a.status !== 503)).toEqual([]);
    expect(all.filter((a) => a.status === 0)).toEqual([]);
    expect(all.at(-1)!.status).toBe(200);
    await expectNothingLeftBehind("pg-restart", all);
  });

  it("stopped for 5 s: quick 503s with x-should-retry: true, then 200s from the same process", async () => {
    let loading = true;
    const answers = load("pg-stop", () => loading);
    await sleep(1000);
    await pg.stop("fast");
    await sleep(5000);
    await pg.start();
    await sleep(3000);
    loading = false;
    const all = await answers;
    expect(server.child.exitCode).toBeNull();
    const unavailable = all.filter((a) => a.status === 503);
    expect(unavailable.length).toBeGreaterThan(0);
    for (const a of unavailable) {
      expect(a.retry).toBe("true");
      expect(a.ms).toBeLessThan(2000);
    }
    expect(all.filter((a) => a.status !== 200 && a.status !== 503)).toEqual([]);
    expect(all.at(-1)!.status).toBe(200);
    await expectNothingLeftBehind("pg-stop", all);
  });
});

describe("Postgres frozen under load (SIGSTOP: connections open, nothing answers)", () => {
  // Short limits, so the test is quick: a statement unanswered for 1 s + 2 s fails and its
  // connection is dropped; a new connection that gets no answer fails after 2 s.
  let frozenServer: ServerProcess;
  beforeAll(async () => {
    frozenServer = await startServer({
      DATABASE_URL: pg.url,
      SALVO_BOOTSTRAP_KEY: key,
      SALVO_DB_STATEMENT_TIMEOUT_MS: "1000",
      SALVO_DB_CONNECT_TIMEOUT_MS: "2000",
    });
  });
  afterAll(async () => {
    await pg.thaw();
    if (frozenServer?.child.exitCode === null) await frozenServer.kill9();
  });

  it("requests answer 503 within the timeouts instead of hanging, and the same process serves again after", async () => {
    let loading = true;
    const answers = load("pg-freeze", () => loading, frozenServer);
    await sleep(1000);
    await pg.freeze();
    await sleep(6000);
    await pg.thaw();
    await sleep(4000);
    loading = false;
    const all = await answers;
    expect(frozenServer.child.exitCode).toBeNull();
    // No request hung until the client gave up (10 s): each got an answer.
    expect(all.filter((a) => a.status === 0)).toEqual([]);
    const unavailable = all.filter((a) => a.status === 503);
    expect(unavailable.length).toBeGreaterThan(0);
    for (const a of unavailable) {
      expect(a.retry).toBe("true");
      expect(a.ms).toBeLessThan(6000);
    }
    expect(all.filter((a) => a.status !== 200 && a.status !== 503)).toEqual([]);
    expect(all.at(-1)!.status).toBe(200);
    // Every batch answered 200 is there whole. A request whose COMMIT reached the frozen server
    // before the client gave up may have committed after the thaw although it was answered 503
    // (as with any connection lost after a commit was sent): such a batch is whole as well.
    const ok = new Set(all.filter((a) => a.status === 200).map((a) => a.batchId!));
    const batches = await query<{ batch_id: string; runs: string }>(
      pg.url,
      "select batch_id, count(*) as runs from runs where task_identifier = $1 group by batch_id",
      ["pg-freeze"],
    );
    for (const id of ok) expect(batches.find((b) => b.batch_id === id)?.runs).toBe("10");
    for (const b of batches) expect(b.runs).toBe("10");
    expect(batches.length - ok.size).toBeLessThanOrEqual(8);
  });
});
