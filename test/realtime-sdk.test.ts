import { ApiClient } from "@trigger.dev/core/v3";
import { auth, batch, configure, runs, tasks } from "@trigger.dev/sdk";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createWorker, type Worker } from "../client/index.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";

/**
 * The published SDK's realtime functions (Electric's shape protocol under them) against Salvo:
 * every run of a batch, then each change as it happens, from the live event feed.
 */
let salvo: TestSalvo;
const workers: Worker[] = [];
beforeAll(async () => {
  salvo = await startTestSalvo();
  configure({ baseURL: salvo.url, accessToken: salvo.key });
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop({ graceMs: 1000 })));
});
afterAll(() => salvo?.close());

type RealtimeRun = Awaited<ReturnType<typeof runs.retrieve>> & { status: string };

/**
 * Reads a subscription in the background: `latest` holds each run's last version, `seen` every
 * version in arrival order; `until` waits for a condition on them.
 */
function follow(subscription: AsyncIterable<RealtimeRun> & { unsubscribe(): void }) {
  const latest = new Map<string, RealtimeRun>();
  const seen: RealtimeRun[] = [];
  let ended = false;
  let failure: unknown;
  const waiters = new Set<() => void>();
  void (async () => {
    try {
      for await (const run of subscription) {
        latest.set(run.id, run);
        seen.push(run);
        for (const w of waiters) w();
      }
    } catch (err) {
      failure = err;
    } finally {
      ended = true;
      for (const w of waiters) w();
    }
  })();
  return {
    latest,
    seen,
    get ended() {
      return ended;
    },
    get failure() {
      return failure;
    },
    async until(what: string, ok: () => boolean, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!ok()) {
        if (failure) throw failure;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise<void>((resolve) => {
          const wake = () => {
            waiters.delete(wake);
            clearTimeout(timer);
            resolve();
          };
          const timer = setTimeout(wake, 200);
          waiters.add(wake);
        });
      }
    },
    stop: () => subscription.unsubscribe(),
  };
}

describe("runs.subscribeToBatch", () => {
  it("yields every run of the batch, then each change live: a cancel, an execution by a worker", async () => {
    const handle = await tasks.batchTrigger("rt-batch", [
      { payload: { n: 0 }, options: { tags: ["rt"] } },
      { payload: { n: 1 } },
      { payload: { n: 2 } },
    ]);
    const other = await tasks.batchTrigger("rt-batch", [{ payload: { n: 99 } }]);
    const [otherRun] = (await batch.retrieve(other.batchId)).runs;
    const sub = follow(runs.subscribeToBatch(handle.batchId) as never);
    await sub.until("the batch's three runs", () => sub.latest.size === 3);
    const byN = (n: number) => [...sub.latest.values()].find((r) => (r.payload as { n: number }).n === n)!;
    expect([...sub.latest.values()].map((r) => r.status)).toEqual(["QUEUED", "QUEUED", "QUEUED"]);
    expect(byN(0).tags).toEqual(["rt"]);
    expect(byN(0).taskIdentifier).toBe("rt-batch");
    expect(byN(0).createdAt).toBeInstanceOf(Date);
    expect(sub.latest.has(otherRun!)).toBe(false);

    await runs.cancel(byN(1).id);
    await sub.until("the cancel", () => byN(1).status === "CANCELED");
    expect(byN(1).isCancelled).toBe(true);
    expect(byN(1).finishedAt).toBeInstanceOf(Date);

    // A worker executes the rest: each run's output arrives with its COMPLETED version.
    workers.push(
      createWorker({
        url: salvo.url,
        apiKey: salvo.key,
        tasks: { "rt-batch": (payload: { n: number }) => ({ doubled: payload.n * 2 }) },
        pollWaitMs: 500,
      }),
    );
    await sub.until("the executions", () => byN(0).status === "COMPLETED" && byN(2).status === "COMPLETED");
    expect(byN(2).output).toEqual({ doubled: 4 });
    expect(byN(2).isSuccess).toBe(true);
    // Never another batch's run, never a run twice in a row with nothing changed.
    expect(sub.seen.every((r) => r.id !== otherRun)).toBe(true);
    sub.stop();
  });

  it("the batch's own x-trigger-jwt reads its batch and is refused for another", async () => {
    const mine = await tasks.batchTrigger("rt-token", [{ payload: 1 }, { payload: 2 }]);
    const other = await tasks.batchTrigger("rt-token", [{ payload: 3 }]);
    const allowed = await auth.withAuth({ accessToken: mine.publicAccessToken }, async () => {
      const sub = follow(runs.subscribeToBatch(mine.batchId) as never);
      await sub.until("the runs", () => sub.latest.size === 2);
      sub.stop();
      return [...sub.latest.keys()].sort();
    });
    expect(allowed).toEqual([...(await batch.retrieve(mine.batchId)).runs].sort());

    // The SDK's runs.subscribeToBatch only reports a refusal to `onFetchError`, which its
    // ApiClient takes: the same client, called directly.
    const client = new ApiClient(salvo.url, mine.publicAccessToken);
    const refusal = await new Promise<unknown>((resolve) => {
      const sub = client.subscribeToBatch(other.batchId, { onFetchError: resolve });
      void (async () => {
        for await (const run of sub) resolve(new Error(`read a run of another batch: ${run.id}`));
      })();
    });
    expect(refusal).toEqual(expect.objectContaining({ status: 403 }));
    const direct = await fetch(`${salvo.url}/realtime/v1/batches/${other.batchId}?offset=-1`, {
      headers: { authorization: `Bearer ${mine.publicAccessToken}` },
    });
    expect(direct.status).toBe(403);
    expect(await direct.json()).toEqual(expect.objectContaining({ error: expect.stringContaining("read:batch:") }));
  });
});

describe("runs.subscribeToRun", () => {
  it("follows a run and ends when it is final", async () => {
    const handle = await tasks.trigger("rt-single", { hello: "world" });
    const sub = follow(runs.subscribeToRun(handle.id) as never);
    await sub.until("the run", () => sub.latest.get(handle.id)?.status === "QUEUED");
    workers.push(
      createWorker({
        url: salvo.url,
        apiKey: salvo.key,
        tasks: { "rt-single": () => "done" },
        pollWaitMs: 500,
      }),
    );
    await sub.until("the end of the subscription", () => sub.ended);
    expect(sub.failure).toBeUndefined();
    const last = sub.seen.at(-1)!;
    expect(last.status).toBe("COMPLETED");
    expect(last.output).toBe("done");
    expect(last.payload).toEqual({ hello: "world" });
  });
});

describe("runs.subscribeToRunsWithTag", () => {
  it("sees the tagged runs there are, then a new tagged run appear, and never an untagged one", async () => {
    const tag = `rt-tag-${Date.now()}`;
    const first = await tasks.trigger("rt-tagged", { i: 1 }, { tags: [tag] });
    const sub = follow(runs.subscribeToRunsWithTag(tag) as never);
    await sub.until("the first tagged run", () => sub.latest.has(first.id));
    const untagged = await tasks.trigger("rt-tagged", { i: 2 });
    const second = await tasks.trigger("rt-tagged", { i: 3 }, { tags: [tag, "other"] });
    const inBatch = await tasks.batchTrigger("rt-tagged", [{ payload: { i: 4 }, options: { tags: [tag] } }]);
    const [batched] = (await batch.retrieve(inBatch.batchId)).runs;
    await sub.until("the new tagged runs", () => sub.latest.has(second.id) && sub.latest.has(batched!));
    expect(sub.latest.has(untagged.id)).toBe(false);
    expect(sub.latest.get(second.id)!.tags).toEqual([tag, "other"]);
    sub.stop();
  });
});
