import { batch, configure, runs, tasks } from "@trigger.dev/sdk";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AbortTaskRunError, createWorker, type TaskHandler, type Worker } from "../client/index.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";
import { waitFor } from "./support/wait.js";

/**
 * End to end: runs triggered by the published SDK are executed by a Salvo worker, which gets
 * each payload decoded (an offloaded one fetched from the packet store), and `runs.retrieve`
 * follows them through the statuses execution really produces.
 */
let salvo: TestSalvo;
const workers: Worker[] = [];
beforeAll(async () => {
  salvo = await startTestSalvo({ SALVO_SWEEP_INTERVAL_MS: "50", SALVO_RETRY_BASE_MS: "20", SALVO_RETRY_MAX_MS: "100" });
  configure({ baseURL: salvo.url, accessToken: salvo.key });
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop({ graceMs: 2000 })));
});
afterAll(() => salvo?.close());

function startWorker(handlers: Record<string, TaskHandler>) {
  const worker = createWorker({ url: salvo.url, apiKey: salvo.key, tasks: handlers, pollWaitMs: 1000 });
  workers.push(worker);
  return worker;
}

const untilStatus = (runId: string, status: string) =>
  waitFor(
    async () => {
      const run = await runs.retrieve(runId);
      return run.status === status ? run : undefined;
    },
    20_000,
    `run ${runId} ${status}`,
  );

const big = (tag: string) => ({
  tag,
  at: new Date("2026-04-05T06:07:08.009Z"),
  blob: `${tag}:`.padEnd(200 * 1024, "z"),
});

describe("a worker executes what the SDK triggered", () => {
  it("receives 200 KiB offloaded payloads and SuperJSON Dates/Maps intact; outputs come back exactly", async () => {
    const received = new Map<string, unknown>();
    startWorker({
      echo: async (payload: unknown, ctx) => {
        received.set(ctx.run.id, payload);
        return { seenAt: new Date("2027-01-01T00:00:00.000Z"), kinds: new Map([["type", typeof payload]]) };
      },
    });
    const payloads: unknown[] = [
      big("batch-0"),
      { at: new Date(1234), m: new Map([["k", [1, 2]]]) },
      "plain text",
      big("batch-3"),
    ];
    const handle = await tasks.batchTrigger(
      "echo",
      payloads.map((payload) => ({ payload })),
    );
    const single = await tasks.trigger("echo", big("single"));

    const runIds = (await batch.retrieve(handle.batchId)).runs;
    for (const [i, runId] of [...runIds, single.id].entries()) {
      const run = await untilStatus(runId, "COMPLETED");
      const expected = i < payloads.length ? payloads[i] : big("single");
      expect(received.get(runId)).toEqual(expected);
      expect(run.isSuccess).toBe(true);
      expect(run.output).toEqual({
        seenAt: new Date("2027-01-01T00:00:00.000Z"),
        kinds: new Map([["type", typeof expected]]),
      });
      expect(run.output.kinds).toBeInstanceOf(Map);
    }
    expect((received.get(single.id) as { at: unknown }).at).toBeInstanceOf(Date);
    expect((received.get(runIds[1]!) as { m: unknown }).m).toBeInstanceOf(Map);
  });

  it("runs.retrieve follows a run through QUEUED, EXECUTING and COMPLETED, and FAILED", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const handle = await tasks.trigger("gated", { n: 1 });
    const failing = await tasks.trigger("doomed", { n: 2 });
    const queued = await runs.retrieve(handle.id);
    expect(queued).toMatchObject({ status: "QUEUED", isQueued: true, isExecuting: false });

    startWorker({
      gated: async () => {
        await gate;
        return "done";
      },
      doomed: async () => {
        throw new AbortTaskRunError("no way");
      },
    });
    const executing = await untilStatus(handle.id, "EXECUTING");
    expect(executing).toMatchObject({ isExecuting: true, isQueued: false, isCompleted: false });
    expect(executing.startedAt).toBeInstanceOf(Date);
    release();
    const done = await untilStatus(handle.id, "COMPLETED");
    expect(done).toMatchObject({ isCompleted: true, isSuccess: true, output: "done" });
    expect(done.finishedAt).toBeInstanceOf(Date);

    const failed = await untilStatus(failing.id, "FAILED");
    expect(failed).toMatchObject({ isCompleted: true, isFailed: true, isSuccess: false });
    expect(failed.error?.message).toContain("no way");
  });
});
