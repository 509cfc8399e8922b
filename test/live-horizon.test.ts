import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BatchWatchMessage, createSalvoClient, type SalvoClient, watchBatch } from "../client/index.js";
import { setRunStatus } from "./support/live.js";
import { ndjson, startTestSalvo, type TestSalvo } from "./support/salvo.js";

/**
 * Events become readable once every older transaction that could write events has ended: those of
 * this database, not those of other databases on the same Postgres server (transaction ids are
 * server-wide). Needs a real server: PGlite has one database and one connection.
 */
const databaseUrl = process.env.DATABASE_URL;

let salvo: TestSalvo;
let client: SalvoClient;
beforeAll(async () => {
  if (!databaseUrl) return;
  salvo = await startTestSalvo();
  client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
});
afterAll(() => salvo?.close());

/** A connection holding a transaction open, with a transaction id assigned, in `database`. */
async function openTransaction(database: string) {
  const url = new URL(databaseUrl!);
  url.pathname = `/${database}`;
  const conn = new pg.Client({ connectionString: url.href });
  await conn.connect();
  await conn.query("begin");
  await conn.query("select pg_current_xact_id()");
  return {
    async end() {
      await conn.query("rollback");
      await conn.end();
    },
  };
}

/** A sealed batch of `n` runs, a subscriber on it, and what it has received so far. */
async function watchedBatch(n: number) {
  const created = await salvo.api("/api/v3/batches", { json: { runCount: n } });
  const { id } = (await created.json()) as { id: string };
  const items = Array.from({ length: n }, (_, index) => ({ index, task: "t", payload: {} }));
  await salvo.api(`/api/v3/batches/${id}/items`, {
    method: "POST",
    headers: { "content-type": "application/x-ndjson" },
    body: ndjson(items),
  });
  const runs = (await client.batch.get.query({ batchId: id })).runs;
  const received: BatchWatchMessage[] = [];
  const stop = new AbortController();
  const done = (async () => {
    for await (const { message } of watchBatch(client, id, { signal: stop.signal })) received.push(message);
  })();
  await until(() => received.length > 0);
  const statuses = () =>
    received.flatMap((m) => (m.kind === "events" ? m.events.filter((e) => e.type === "run.status") : []));
  return {
    runs,
    statuses,
    stop: () => {
      stop.abort();
      return done;
    },
  };
}

async function until(check: () => boolean, timeoutMs = 5000) {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe.skipIf(!databaseUrl)("the events read horizon", () => {
  it("does not wait for a transaction of another database", async () => {
    const watched = await watchedBatch(2);
    const other = await openTransaction("postgres");
    try {
      await setRunStatus(salvo.deps, salvo.env.environmentId, [watched.runs[0]!], "EXECUTING");
      // A horizon over all databases would hold this back until `other` ends, which it never does here.
      await until(() => watched.statuses().length === 1, 10_000);
      expect(watched.statuses()).toMatchObject([{ runId: watched.runs[0], data: { status: "EXECUTING" } }]);
    } finally {
      await other.end();
      await watched.stop();
    }
  });

  it("waits for an older transaction of this database, then delivers in order", async () => {
    const watched = await watchedBatch(2);
    const older = await openTransaction(new URL(databaseUrl!).pathname.slice(1));
    try {
      await setRunStatus(salvo.deps, salvo.env.environmentId, [watched.runs[0]!], "EXECUTING");
      await new Promise((r) => setTimeout(r, 300));
      expect(watched.statuses()).toHaveLength(0);
    } finally {
      await older.end();
    }
    await until(() => watched.statuses().length === 1);
    await watched.stop();
  });
});
