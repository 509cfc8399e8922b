import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChildSalvo, startChildSalvo } from "./support/child-server.js";
import { type PrivatePostgres, startPrivatePostgres } from "./support/private-services.js";
import { waitFor } from "./support/wait.js";

// SIGTERM to a server process with requests in flight. Requests are held mid-transaction by an
// advisory lock the test takes: with a queue cap set, every one-shot batch takes the
// environment's queue-cap lock inside its transaction (limits/queue-cap.ts). Released within the
// grace period, they must complete with their answer; released after it, they must commit nothing.

// Long enough that the checks made between the signal and the release fit in it on a busy machine.
const GRACE_MS = 6_000;
const ITEMS = 5;

let postgres: PrivatePostgres;
let db: pg.Client;
beforeAll(async () => {
  postgres = await startPrivatePostgres();
  db = new pg.Client({ connectionString: postgres.url });
  await db.connect();
}, 120_000);
afterAll(async () => {
  await db?.end();
  await postgres?.close();
});

interface Sent {
  tag: string;
  status: number | "network error";
}

/** A server with the queue cap on (so one-shot batches take the lock the test holds). */
const startServer = () =>
  startChildSalvo({
    DATABASE_URL: postgres.url,
    SALVO_SHUTDOWN_GRACE_MS: String(GRACE_MS),
    SALVO_MAX_QUEUED_RUNS: "1000000",
  });

const exited = (server: ChildSalvo) =>
  new Promise<number | null>((resolve) => {
    if (server.process.exitCode !== null) return resolve(server.process.exitCode);
    server.process.once("exit", (code) => resolve(code));
  });

/** One-shot batches tagged `tag`, whose outcome is recorded in `sent`. */
function oneShot(server: ChildSalvo, tag: string, sent: Sent[]): Promise<void> {
  return fetch(`${server.url}/api/v1/tasks/sigterm/batch`, {
    method: "POST",
    headers: { authorization: `Bearer ${server.key}`, "content-type": "application/json" },
    body: JSON.stringify({ items: Array.from({ length: ITEMS }, (_, i) => ({ payload: { tag, i } })) }),
  }).then(
    async (res) => {
      await res.arrayBuffer();
      sent.push({ tag, status: res.status });
    },
    () => void sent.push({ tag, status: "network error" }),
  );
}

/** Runs in the database per tag. */
async function runsByTag(prefix: string): Promise<Map<string, number>> {
  const { rows } = await db.query<{ tag: string; n: string }>(
    `select payload::jsonb->>'tag' as tag, count(*) as n from runs where payload::jsonb->>'tag' like $1 group by 1`,
    [`${prefix}%`],
  );
  return new Map(rows.map((r) => [r.tag, Number(r.n)]));
}

/** Holds every environment's queue-cap lock until the returned function is called. */
async function holdQueueCapLocks(): Promise<() => Promise<void>> {
  await db.query(`select pg_advisory_lock(hashtext('salvo:queue-cap:' || id)) from environments`);
  return async () => void (await db.query(`select pg_advisory_unlock_all()`));
}

/** Whether requests are waiting on the lock (so they are in flight, mid-transaction). */
const waitingOnLock = async (n: number) => {
  const { rows } = await db.query<{ n: string }>(
    `select count(*) as n from pg_locks where locktype = 'advisory' and not granted`,
  );
  return Number(rows[0]!.n) >= n ? true : undefined;
};

describe("SIGTERM", () => {
  it("lets requests in flight finish within the grace period, releases long polls and subscriptions, exits 0", async () => {
    const server = await startServer();
    const auth = { authorization: `Bearer ${server.key}`, "content-type": "application/json" };
    const first = await fetch(`${server.url}/api/v1/tasks/sigterm/batch`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ items: [{ payload: {} }] }),
    });
    const { batchId } = (await first.json()) as { batchId: string };

    // A worker's long poll and a subscription, open at SIGTERM.
    const poll = fetch(`${server.url}/trpc/worker.dequeue`, {
      method: "POST",
      headers: auth,
      body: JSON.stringify({ json: { workerId: "w1", tasks: ["nothing-to-do"], max: 1, waitMs: 20_000 } }),
    });
    const watch = await fetch(
      `${server.url}/trpc/batch.watch?input=${encodeURIComponent(JSON.stringify({ json: { batchId } }))}`,
      { headers: auth },
    );
    const watchText = watch.text();

    const release = await holdQueueCapLocks();
    const sent: Sent[] = [];
    const requests = Array.from({ length: 8 }, (_, i) => oneShot(server, `grace-${i}`, sent));
    await waitFor(() => waitingOnLock(8), 20_000, "requests waiting on the lock");
    const exit = exited(server);
    const signalled = Date.now();
    server.process.kill("SIGTERM");
    // New connections are refused at once.
    await waitFor(
      async () =>
        (await fetch(`${server.url}/healthz`).then(
          () => false,
          () => true,
        ))
          ? true
          : undefined,
      5_000,
      "listener closed",
    );

    const pollAnswer = await poll;
    expect(pollAnswer.status).toBe(200);
    expect(Date.now() - signalled).toBeLessThan(GRACE_MS);
    expect(((await pollAnswer.json()) as { result: { data: { json: unknown[] } } }).result.data.json).toEqual([]);
    // The subscription ended without tRPC's final `return` (which would end it for good), with a
    // reconnection delay: the client resumes from its last event id.
    const stream = await watchText;
    expect(stream).toContain("retry: ");
    expect(stream).not.toContain("event: return");

    await new Promise((r) => setTimeout(r, GRACE_MS / 3));
    await release();
    await Promise.all(requests);
    expect(await exit).toBe(0);

    // Every request held at SIGTERM completed with its answer, and is in the database whole.
    expect(sent.map((s) => s.status)).toEqual(Array(8).fill(200));
    const runs = await runsByTag("grace-");
    expect([...runs.values()]).toEqual(Array(8).fill(ITEMS));
    expect(server.output()).not.toMatch(/driver has already been destroyed|Internal Server Error/);
  }, 120_000);

  it("commits nothing of a request cut by the grace deadline", async () => {
    const server = await startServer();
    const release = await holdQueueCapLocks();
    const sent: Sent[] = [];
    const requests = Array.from({ length: 8 }, (_, i) => oneShot(server, `cut-${i}`, sent));
    await waitFor(() => waitingOnLock(8), 20_000, "requests waiting on the lock");
    const exit = exited(server);
    server.process.kill("SIGTERM");
    // Past the deadline the connections are cut: every client sees its request fail.
    await Promise.all(requests);
    expect(sent.map((s) => s.status)).toEqual(Array(8).fill("network error"));
    // Only now can the held statements go on: what follows them (the COMMIT) must be refused.
    await release();
    expect(await exit).toBe(0);
    expect(await runsByTag("cut-")).toEqual(new Map());
    expect(server.output()).not.toMatch(/driver has already been destroyed/);
  }, 120_000);
});
