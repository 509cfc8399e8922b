import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChildSalvo, startChildSalvo } from "./support/child-server.js";
import { type PrivatePostgres, startPrivatePostgres } from "./support/private-services.js";
import { waitFor } from "./support/wait.js";

// A server process on a Postgres cluster of its own, under a small load of one-shot batches and
// tRPC reads, while that cluster is stopped (fast: sessions end with 57P01; immediate: a crash)
// and started again. The cluster is private, so this runs without DATABASE_URL too.

const CONNECT_TIMEOUT_MS = 2_000;
let postgres: PrivatePostgres;
let server: ChildSalvo;
beforeAll(async () => {
  postgres = await startPrivatePostgres();
  // A connect timeout well under the bound below, so a slow machine cannot push a 503 past it.
  server = await startChildSalvo({
    DATABASE_URL: postgres.url,
    SALVO_DB_CONNECT_TIMEOUT_MS: String(CONNECT_TIMEOUT_MS),
  });
}, 120_000);
afterAll(async () => {
  await server?.close();
  await postgres?.close();
});

interface Outcome {
  status: number | "network error";
  retry: string | null;
  ms: number;
  batchId?: string;
}

const ITEMS = 3;

describe("Postgres stopped and restarted under load", () => {
  it("answers 503 with x-should-retry while it is down, keeps running, and recovers by itself", async () => {
    const headers = { authorization: `Bearer ${server.key}`, "content-type": "application/json" };
    const first = await fetch(`${server.url}/api/v1/tasks/outage/batch`, {
      method: "POST",
      headers,
      body: JSON.stringify({ items: [{ payload: {} }] }),
    });
    expect(first.status).toBe(200);
    const { batchId: knownBatch } = (await first.json()) as { batchId: string };

    const outcomes: Outcome[] = [];
    let stopping = false;
    const record = async (request: () => Promise<Response>, oneShot: boolean) => {
      const started = Date.now();
      try {
        const res = await request();
        const body = (await res.json().catch(() => undefined)) as { batchId?: string } | undefined;
        outcomes.push({
          status: res.status,
          retry: res.headers.get("x-should-retry"),
          ms: Date.now() - started,
          batchId: oneShot && res.status === 200 ? body?.batchId : undefined,
        });
      } catch {
        outcomes.push({ status: "network error", retry: null, ms: Date.now() - started });
      }
    };
    const oneShot = () =>
      fetch(`${server.url}/api/v1/tasks/outage/batch`, {
        method: "POST",
        headers,
        body: JSON.stringify({ items: Array.from({ length: ITEMS }, (_, i) => ({ payload: { i } })) }),
      });
    const trpcRead = () =>
      fetch(
        `${server.url}/trpc/batch.get?input=${encodeURIComponent(JSON.stringify({ json: { batchId: knownBatch } }))}`,
        { headers },
      );
    const loops = Array.from({ length: 6 }, async (_, n) => {
      while (!stopping) {
        await record(n % 2 === 0 ? oneShot : trpcRead, n % 2 === 0);
        await new Promise((r) => setTimeout(r, 20));
      }
    });

    const readiness: number[] = [];
    const outage = async (mode: "fast" | "immediate") => {
      await new Promise((r) => setTimeout(r, 500));
      const before = outcomes.length;
      await postgres.stop(mode);
      await new Promise((r) => setTimeout(r, 1_000));
      readiness.push((await fetch(`${server.url}/readyz`)).status);
      await postgres.start();
      // Recovered: one-shot batches succeed again, on the same process.
      await waitFor(
        () =>
          outcomes.slice(before).filter((o) => o.status === 503).length > 0 && outcomes.at(-1)?.status === 200
            ? true
            : undefined,
        30_000,
        "a 200 after the restart",
      );
      await new Promise((r) => setTimeout(r, 500));
    };
    try {
      await outage("fast");
      await outage("immediate");
    } finally {
      stopping = true;
      await Promise.all(loops);
    }

    expect(server.process.exitCode).toBeNull();
    expect(server.output()).not.toMatch(/Unhandled 'error' event/);
    const failures = outcomes.filter((o) => o.status !== 200);
    expect(failures.length).toBeGreaterThan(0);
    // Every failure was a quick 503 the client may retry; nothing else (no 500, no reset connection).
    expect(failures.filter((o) => o.status !== 503 || o.retry !== "true")).toEqual([]);
    // Bounded by the connect timeout (not held until Postgres is back), with room for a busy machine.
    expect(Math.max(...failures.map((o) => o.ms))).toBeLessThan(CONNECT_TIMEOUT_MS + 4_000);
    expect(outcomes.slice(-3).every((o) => o.status === 200)).toBe(true);
    expect(readiness).toEqual([503, 503]);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);

    // A request that failed left nothing behind: the batches in the database are exactly those
    // answered 200 (plus the first), each whole.
    const answered = outcomes.filter((o) => o.batchId).map((o) => o.batchId!);
    const db = new pg.Client({ connectionString: postgres.url });
    await db.connect();
    try {
      const batches = await db.query<{ id: string; runs: string }>(
        `select b.id, (select count(*) from runs r where r.batch_id = b.id) as runs from batches b`,
      );
      expect(batches.rows.map((b) => b.id).sort()).toEqual([knownBatch, ...answered].sort());
      for (const b of batches.rows) expect(Number(b.runs)).toBe(b.id === knownBatch ? 1 : ITEMS);
    } finally {
      await db.end();
    }
  }, 120_000);
});
