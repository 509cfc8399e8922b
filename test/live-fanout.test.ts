import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type BatchWatchMessage,
  createSalvoClient,
  type SalvoClient,
  type Watched,
  watchBatch,
} from "../client/index.js";
import { authenticate } from "../server/auth/authenticate.js";
import { watchBatch as watchBatchOnServer } from "../server/events/watch.js";
import type { WatchMessage } from "../server/events/watch-loop.js";
import { startChildSalvo } from "./support/child-server.js";
import { setRunStatus } from "./support/live.js";
import { ndjson, startTestSalvo, type TestSalvo } from "./support/salvo.js";

let salvo: TestSalvo;
let client: SalvoClient;
beforeAll(async () => {
  salvo = await startTestSalvo();
  client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
});
afterAll(() => salvo?.close(), 120_000);

const createBatch = async (runCount: number) => {
  const res = await salvo.api("/api/v3/batches", { json: { runCount } });
  return ((await res.json()) as { id: string }).id;
};
const streamItems = async (batchId: string, from: number, to: number) => {
  const items = Array.from({ length: to - from }, (_, i) => ({ index: from + i, task: "t", payload: { i: from + i } }));
  const res = await salvo.api(`/api/v3/batches/${batchId}/items`, {
    method: "POST",
    headers: { "content-type": "application/x-ndjson" },
    body: ndjson(items),
  });
  expect(res.status).toBe(200);
};
const runsOf = async (batchId: string) => (await client.batch.get.query({ batchId })).runs;
/** The ids of the events in some messages, in order. */
const eventIds = (messages: Watched<BatchWatchMessage>[]) =>
  messages.flatMap((m) => (m.message.kind === "events" ? m.message.events.map((e) => e.id) : []));
/** Every event of a final batch, read afterwards from the start: the reference order. */
const allEventIds = async (c: SalvoClient, batchId: string) => {
  const messages: Watched<BatchWatchMessage>[] = [];
  for await (const m of watchBatch(c, batchId, { lastEventId: "0:0" })) messages.push(m);
  return eventIds(messages);
};
/** Starts a subscriber and resolves once its snapshot has arrived; `done` resolves with everything it got. */
async function subscribe(c: SalvoClient, batchId: string, options: { lastEventId?: string; stopAfter?: number } = {}) {
  const got: Watched<BatchWatchMessage>[] = [];
  let ready!: () => void;
  const started = new Promise<void>((r) => (ready = r));
  const done = (async () => {
    for await (const m of watchBatch(c, batchId, { lastEventId: options.lastEventId })) {
      got.push(m);
      if (got.length === 1) ready();
      if (options.stopAfter !== undefined && got.length >= options.stopAfter) break;
    }
    ready();
    return got;
  })();
  if (options.lastEventId === undefined) await started;
  return { got, done };
}

const haveServices = Boolean(process.env.DATABASE_URL && process.env.REDIS_URL);

describe.skipIf(!haveServices)("two server processes on one Postgres and Redis", () => {
  // PGlite is one process's embedded database: a second process cannot share it, so this needs both services.
  it("a subscriber on one sees every change made through the other, in order", async () => {
    const child = await startChildSalvo({ DATABASE_URL: process.env.DATABASE_URL!, REDIS_URL: process.env.REDIS_URL! });
    try {
      const remote = createSalvoClient({ url: child.url, apiKey: salvo.key });
      const batchId = await createBatch(20);
      const watcher = await subscribe(remote, batchId);
      await streamItems(batchId, 0, 10);
      await streamItems(batchId, 10, 20);
      const runs = await runsOf(batchId);
      for (let i = 0; i < runs.length; i += 5)
        await setRunStatus(salvo.deps, salvo.env.environmentId, runs.slice(i, i + 5), "COMPLETED");
      const got = await watcher.done;
      const reference = await allEventIds(client, batchId);
      expect(got[0]!.message.kind).toBe("snapshot");
      // The snapshot's position stands for everything before it; every event after it arrives once, in order.
      const afterSnapshot = reference.filter((id) => compare(id, got[0]!.id) > 0);
      expect(eventIds(got)).toEqual(afterSnapshot);
      // 20 run.status, a runs.created per streamed request (2), and the batch's status changes.
      expect(afterSnapshot.length).toBeGreaterThanOrEqual(20 + 2 + 2);
      expect(got.at(-1)!.message.batch).toMatchObject({ status: "COMPLETED", runs: { total: 20, finished: 20 } });
    } finally {
      await child.close();
    }
  }, 90_000);
});

describe("resuming", () => {
  it("a subscriber that disconnects mid-batch and resumes with its last event id gets every missed event exactly once", async () => {
    const batchId = await createBatch(30);
    const first = await subscribe(client, batchId, { stopAfter: 3 });
    for (let i = 0; i < 30; i += 10) await streamItems(batchId, i, i + 10);
    const partial = await first.done;
    expect(partial).toHaveLength(3);
    // While disconnected: the rest of the batch happens.
    const runs = await runsOf(batchId);
    for (let i = 0; i < runs.length; i += 10)
      await setRunStatus(salvo.deps, salvo.env.environmentId, runs.slice(i, i + 10), "COMPLETED");
    const resumed = await subscribe(client, batchId, { lastEventId: partial.at(-1)!.id });
    const rest = await resumed.done;
    const ids = eventIds([...partial, ...rest]);
    expect(new Set(ids).size).toBe(ids.length);
    const reference = await allEventIds(client, batchId);
    expect(ids).toEqual(reference.filter((id) => compare(id, partial[0]!.id) > 0));
    expect(rest.at(-1)!.message.batch).toMatchObject({ status: "COMPLETED", runs: { finished: 30 } });
  });
});

/**
 * The Done-when scale (500 subscribers, 1,000 runs: about a million deliveries) runs on Postgres.
 * Embedded PGlite executes in this same thread as the server and all the SSE clients, which makes
 * that scale take minutes; there the same check runs at 50 subscribers and 200 runs.
 */
const scale = process.env.DATABASE_URL ? { subscribers: 500, runs: 1000 } : { subscribers: 50, runs: 200 };

describe("fan-out", () => {
  it(`${scale.subscribers} concurrent subscribers each receive every event of a ${scale.runs}-run batch`, async () => {
    const { subscribers, runs: runCount } = scale;
    const batchId = await createBatch(runCount);
    const watchers = await Promise.all(Array.from({ length: subscribers }, () => subscribe(client, batchId)));
    for (let i = 0; i < runCount; i += runCount / 4) await streamItems(batchId, i, i + runCount / 4);
    const runs = await runsOf(batchId);
    for (let i = 0; i < runs.length; i += runCount / 10) {
      await setRunStatus(salvo.deps, salvo.env.environmentId, runs.slice(i, i + runCount / 10), "COMPLETED");
    }
    const results = await Promise.all(watchers.map((w) => w.done));
    const reference = await allEventIds(client, batchId);
    // One run.status per run, one runs.created per streamed chunk (4), plus the batch's status changes.
    expect(reference.length).toBeGreaterThanOrEqual(runCount + 4);
    for (const got of results) {
      expect(eventIds(got)).toEqual(reference.filter((id) => compare(id, got[0]!.id) > 0));
      expect(got.at(-1)!.message.batch).toMatchObject({
        status: "COMPLETED",
        runs: { total: runCount, finished: runCount },
      });
    }
    // Generous: the SSE clients and the server share this process's CPU.
  }, 300_000);
});

function compare(a: string, b: string): number {
  const [at, ai] = a.split(":").map(BigInt) as [bigint, bigint];
  const [bt, bi] = b.split(":").map(BigInt) as [bigint, bigint];
  return at !== bt ? (at < bt ? -1 : 1) : ai === bi ? 0 : ai < bi ? -1 : 1;
}

describe("one message per event for all of a batch's subscribers", () => {
  it("hands every subscriber of a batch in this process the same message object, so it is serialized once", async () => {
    const batchId = await createBatch(2);
    await streamItems(batchId, 0, 2);
    const [runId] = await runsOf(batchId);
    const caller = await authenticate(salvo.deps, `Bearer ${salvo.key}`, { allowPublicTokens: false });
    const stop = new AbortController();
    const watchers = await Promise.all(
      [0, 1, 2].map(() => watchBatchOnServer(salvo.deps, caller, { batchId }, stop.signal)),
    );
    try {
      const snapshots = await Promise.all(watchers.map((w) => w.next()));
      // Snapshots are each subscriber's own read.
      expect(snapshots[0]!.value!.message).not.toBe(snapshots[1]!.value!.message);
      await setRunStatus(salvo.deps, salvo.env.environmentId, [runId!], "EXECUTING");
      const [first, ...others] = (await Promise.all(watchers.map((w) => w.next()))).map((r) => r.value!) as [
        WatchMessage<BatchWatchMessage>,
        ...WatchMessage<BatchWatchMessage>[],
      ];
      expect(first.message).toMatchObject({
        kind: "events",
        events: [{ type: "run.status", runId, data: { status: "EXECUTING" } }],
      });
      for (const other of others) {
        expect(other.id).toBe(first.id);
        expect(other.message).toBe(first.message);
      }
    } finally {
      stop.abort();
      await Promise.all(watchers.map((w) => w.return()));
    }
  });
});
