import { createTRPCClient, httpSubscriptionLink } from "@trpc/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NodeEventSource } from "../client/event-source.js";
import {
  type BatchWatchMessage,
  createSalvoClient,
  type SalvoClient,
  type Watched,
  watchBatch,
  watchRun,
} from "../client/index.js";
import type { AppRouter } from "../server/trpc/routers/_app.js";
import { dataTransformer } from "../shared/transformer.js";
import { setRunStatus } from "./support/live.js";
import { ndjson, startTestSalvo, type TestSalvo } from "./support/salvo.js";

let salvo: TestSalvo;
let client: SalvoClient;
beforeAll(async () => {
  salvo = await startTestSalvo();
  client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
});
afterAll(() => salvo?.close());

/** A two-phase batch of `n` runs of task `t`, streamed in one request; returns its id, run ids and JWT. */
async function makeBatch(n: number, tags: string[] = []) {
  const created = await salvo.api("/api/v3/batches", { json: { runCount: n } });
  const { id } = (await created.json()) as { id: string };
  const items = Array.from({ length: n }, (_, index) => ({ index, task: "t", payload: { index }, options: { tags } }));
  const res = await salvo.api(`/api/v3/batches/${id}/items`, {
    method: "POST",
    headers: { "content-type": "application/x-ndjson" },
    body: ndjson(items),
  });
  expect(res.status).toBe(200);
  const batch = await client.batch.get.query({ batchId: id });
  return { id, runs: batch.runs, jwt: created.headers.get("x-trigger-jwt")! };
}

async function collect<M>(
  iterator: AsyncGenerator<Watched<M>>,
  until?: (m: Watched<M>) => boolean,
): Promise<Watched<M>[]> {
  const seen: Watched<M>[] = [];
  for await (const m of iterator) {
    seen.push(m);
    if (until?.(m)) break;
  }
  return seen;
}

const eventsOf = (messages: Watched<BatchWatchMessage>[]) =>
  messages.flatMap((m) => (m.message.kind === "events" ? m.message.events : []));

describe("batch.watch", () => {
  it("sends the current state, then every change in order, and ends when the batch is final", async () => {
    const { id, runs } = await makeBatch(3);
    const messages: Watched<BatchWatchMessage>[] = [];
    const done = collect(watchBatch(client, id), (m) => {
      messages.push(m);
      return false;
    });
    // Wait for the snapshot so the changes below happen while watching (the batch is sealed
    // already: waiting for that raced the subscription, which could start after the first change).
    await until(async () => messages.length > 0);
    await setRunStatus(salvo.deps, salvo.env.environmentId, [runs[0]!], "EXECUTING");
    await setRunStatus(salvo.deps, salvo.env.environmentId, runs, "COMPLETED");
    await done;

    expect(messages[0]!.message.kind).toBe("snapshot");
    const events = eventsOf(messages);
    const statuses = events.filter((e) => e.type === "run.status").map((e) => `${e.runId}:${e.data.status}`);
    expect(statuses[0]).toBe(`${runs[0]}:EXECUTING`);
    expect(statuses.slice(1).sort()).toEqual(runs.map((r) => `${r}:COMPLETED`).sort());
    expect(events.at(-1)).toMatchObject({ type: "batch.status", data: { status: "COMPLETED" } });
    const last = messages.at(-1)!.message;
    expect(last.batch).toMatchObject({ status: "COMPLETED", final: true, runs: { total: 3, finished: 3, failed: 0 } });
    // Ids strictly increase in the order sent; a message carries its last event's id.
    for (const m of messages.slice(1)) expect(m.id).toBe(eventsOf([m]).at(-1)!.id);
    const ids = events.map((e) => e.id.split(":").map(BigInt));
    for (let i = 1; i < ids.length; i++)
      expect(ids[i]![0]! > ids[i - 1]![0]! || (ids[i]![0] === ids[i - 1]![0] && ids[i]![1]! > ids[i - 1]![1]!)).toBe(
        true,
      );
  });

  it("resumes after a given event id with exactly the events after it", async () => {
    const { id, runs } = await makeBatch(4);
    await setRunStatus(salvo.deps, salvo.env.environmentId, runs.slice(0, 2), "COMPLETED");
    // A first subscriber reads from the snapshot, then stops after the first run event.
    const first = await collect(
      watchBatch(client, id, { lastEventId: "0:0" }),
      (m) => m.message.kind === "events" && m.message.events.some((e) => e.type === "run.status"),
    );
    const resumeAt = first.at(-1)!.id;
    await setRunStatus(salvo.deps, salvo.env.environmentId, runs.slice(2), "FAILED");
    const rest = await collect(watchBatch(client, id, { lastEventId: resumeAt }));
    const all = await collect(watchBatch(client, id, { lastEventId: "0:0" }));
    expect(eventsOf([...first, ...rest]).map((e) => e.id)).toEqual(eventsOf(all).map((e) => e.id));
    expect(rest[0]!.message.kind).toBe("events");
    expect(all.at(-1)!.message.batch).toMatchObject({ status: "COMPLETED", runs: { finished: 4, failed: 2 } });
  });

  it("refuses unknown batches, other environments and malformed resume ids with clear errors", async () => {
    await expect(collect(watchBatch(client, "batch_doesnotexist"))).rejects.toThrow(/not found/);
    const { id } = await makeBatch(1);
    const other = await salvo.newEnvironment();
    const otherClient = createSalvoClient({ url: salvo.url, apiKey: other.secretKey });
    await expect(collect(watchBatch(otherClient, id))).rejects.toThrow(/not found/);
    await expect(collect(watchBatch(client, id, { lastEventId: "nope" }))).rejects.toThrow(/not an event id/);
  });
});

describe("batch JWT", () => {
  it("watches its own batch and its runs, and nothing else", async () => {
    const mine = await makeBatch(2);
    const theirs = await makeBatch(1);
    const pub = createSalvoClient({ url: salvo.url, apiKey: mine.jwt });
    const [snapshot] = await collect(watchBatch(pub, mine.id), () => true);
    expect(snapshot!.message).toMatchObject({ kind: "snapshot", batch: { id: mine.id, runCount: 2 } });
    const [run] = await collect(watchRun(pub, mine.runs[0]!), () => true);
    expect(run!.message).toMatchObject({ kind: "snapshot", run: { id: mine.runs[0], batchId: mine.id } });

    await expect(collect(watchBatch(pub, theirs.id))).rejects.toThrow(/may not read/);
    await expect(collect(watchRun(pub, theirs.runs[0]!))).rejects.toThrow(/may not read/);
    const all = pub.batch.watchAll.subscribe(undefined, { onData() {}, onError() {} });
    all.unsubscribe();
    await expect(
      new Promise((resolve, reject) => {
        const s = pub.run.watchAll.subscribe(undefined, {
          onData: resolve,
          onError: (e) => {
            s.unsubscribe();
            reject(e);
          },
        });
      }),
    ).rejects.toThrow(/secret key/);
  });
});

async function until(check: () => Promise<boolean>, timeoutMs = 5000) {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("subscription authentication without headers (a browser's EventSource)", () => {
  const browserClient = (connectionParams: Record<string, string>) =>
    createTRPCClient<AppRouter>({
      links: [
        httpSubscriptionLink({
          url: `${salvo.url}/trpc`,
          transformer: dataTransformer,
          connectionParams,
          EventSource: NodeEventSource,
        }),
      ],
    });
  const firstMessage = (c: ReturnType<typeof browserClient>, batchId: string) =>
    new Promise((resolve, reject) => {
      const s = c.batch.watch.subscribe(
        { batchId },
        {
          onData: ({ data }) => {
            s.unsubscribe();
            resolve(data);
          },
          onError: reject,
        },
      );
    });

  it("takes a public token from connectionParams, never a secret key (it would travel in the URL)", async () => {
    const { id, jwt } = await makeBatch(1);
    await expect(firstMessage(browserClient({ authorization: `Bearer ${salvo.key}` }), id)).rejects.toMatchObject({
      data: { code: "UNAUTHORIZED" },
    });
    await expect(firstMessage(browserClient({ authorization: `Bearer ${jwt}` }), id)).resolves.toMatchObject({
      kind: "snapshot",
      batch: { id },
    });
    await expect(firstMessage(browserClient({ token: jwt }), id)).resolves.toMatchObject({
      kind: "snapshot",
      batch: { id },
    });
    await expect(firstMessage(browserClient({ token: "tr_dev_not-a-key" }), id)).rejects.toMatchObject({
      data: { code: "UNAUTHORIZED" },
    });
  });
});
