import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSalvoClient } from "../client/index.js";
import { track, until } from "./support/interleave.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";

let salvo: TestSalvo;
let client: ReturnType<typeof createSalvoClient>;
beforeAll(async () => {
  salvo = await startTestSalvo({ SALVO_RETRY_BASE_MS: "60000" });
  client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
});
afterAll(() => salvo?.close());

const status = async (runId: string) => (await client.run.get.query({ runId })).status;
const statusHistory = async (runId: string) =>
  (
    await salvo.deps.db
      .selectFrom("events")
      .select("data")
      .where("run_id", "=", runId)
      .where("type", "=", "run.status")
      .orderBy("id")
      .execute()
  ).map((e) => (e.data as { status: string }).status);

describe("worker.dequeue carrying outcomes", () => {
  it("records the outcomes, then claims in the same call; the batch completes with its last outcome", async () => {
    const task = "exchange";
    await client.worker.register.mutate({ workerId: "wx", tasks: [task] });
    const { batchId, runs } = await client.batch.trigger.mutate({
      items: [
        { task, payload: 1 },
        { task, payload: 2 },
        { task, payload: 3 },
      ],
    });
    const first = await client.worker.dequeue.mutate({ workerId: "wx", tasks: [task], max: 2 });
    expect(first).toHaveLength(2);
    const [a, b] = first;
    const last = { id: runs.find((id) => id !== a!.id && id !== b!.id)! };

    const second = await client.worker.dequeue.mutate({
      workerId: "wx",
      tasks: [task],
      max: 2,
      completed: [{ runId: a!.id, output: { n: a!.payload } }],
      failed: [{ runId: b!.id, error: { name: "Error", message: "no" }, retry: false }],
    });
    expect(second.map((r) => r.id)).toEqual([last.id]);
    const done = await client.run.get.query({ runId: a!.id });
    expect(done).toMatchObject({ status: "COMPLETED", output: { n: a!.payload } });
    expect(await status(b!.id)).toBe("FAILED");
    expect(await statusHistory(a!.id)).toEqual(["EXECUTING", "COMPLETED"]);
    expect((await client.batch.get.query({ batchId })).status).not.toBe("COMPLETED");

    const third = await client.worker.dequeue.mutate({
      workerId: "wx",
      tasks: [task],
      max: 5,
      completed: [{ runId: last.id }],
    });
    expect(third).toEqual([]);
    expect(await status(last.id)).toBe("COMPLETED");
    expect((await client.batch.get.query({ batchId })).status).toBe("COMPLETED");
  });

  it("records many failures of one report together: retried, final, and refused when not leased", async () => {
    const task = "exchange-failures";
    await client.worker.register.mutate({ workerId: "wf", tasks: [task] });
    const { runs } = await client.batch.trigger.mutate({
      items: [
        { task, options: { maxAttempts: 3 } },
        { task, options: { maxAttempts: 3 } },
        { task, options: { maxAttempts: 1 } },
      ],
    });
    const claimed = await client.worker.dequeue.mutate({ workerId: "wf", tasks: [task], max: 3 });
    expect(claimed.map((r) => r.id).sort()).toEqual([...runs].sort());
    const error = { name: "Error", message: "boom" };
    const report = await client.worker.report.mutate({
      workerId: "wf",
      completed: [],
      failed: [
        { runId: runs[0]!, error },
        { runId: runs[1]!, error, retry: false },
        { runId: runs[2]!, error },
        { runId: "run_notleasedbythisworker", error },
      ],
    });
    expect([...report.accepted].sort()).toEqual([...runs].sort());
    expect(report.willRetry).toEqual([runs[0]]);
    expect(await status(runs[0]!)).toBe("REATTEMPTING");
    expect(await status(runs[1]!)).toBe("FAILED");
    expect(await status(runs[2]!)).toBe("FAILED");
    const failed = await client.run.get.query({ runId: runs[2]! });
    expect(failed.error).toMatchObject({ message: "boom" });
    expect(await statusHistory(runs[0]!)).toEqual(["EXECUTING", "REATTEMPTING"]);
    // A repeated report is not accepted: the runs are no longer leased to this worker.
    const again = await client.worker.report.mutate({
      workerId: "wf",
      completed: [],
      failed: [{ runId: runs[1]!, error }],
    });
    expect(again.accepted).toEqual([]);
  });

  it("frees a limited queue's slot for the claim in the same call", async () => {
    const task = "exchange-limited";
    await client.worker.register.mutate({ workerId: "wl", tasks: [task] });
    const queue = { name: "exchange-one-at-a-time", concurrencyLimit: 1 };
    await client.batch.trigger.mutate({
      items: [
        { task, options: { queue } },
        { task, options: { queue } },
        { task, options: { queue } },
      ],
    });

    const [a, ...none] = await client.worker.dequeue.mutate({ workerId: "wl", tasks: [task], max: 3 });
    expect(none).toEqual([]);
    const [b, ...none2] = await client.worker.dequeue.mutate({
      workerId: "wl",
      tasks: [task],
      max: 3,
      completed: [{ runId: a!.id }],
    });
    expect(none2).toEqual([]);
    expect(b!.id).not.toBe(a!.id);
    const [c] = await client.worker.dequeue.mutate({
      workerId: "wl",
      tasks: [task],
      max: 3,
      failed: [{ runId: b!.id, error: { name: "Error", message: "no" }, retry: false }],
    });
    expect([a!.id, b!.id]).not.toContain(c!.id);
    expect(await status(b!.id)).toBe("FAILED");
  });

  it("commits the outcomes before it waits for work", async () => {
    const task = "exchange-wait";
    await client.worker.register.mutate({ workerId: "wy", tasks: [task] });
    const { id } = await client.task.trigger.mutate({ task });
    const [run] = await client.worker.dequeue.mutate({ workerId: "wy", tasks: [task], max: 1 });
    expect(run!.id).toBe(id);

    // A wait far longer than the test: it ends when the next run is triggered, not on a clock.
    const waiting = track(
      client.worker.dequeue.mutate({
        workerId: "wy",
        tasks: [task],
        max: 1,
        waitMs: 60_000,
        completed: [{ runId: id }],
      }),
    );
    await until(async () => (await status(id)) === "COMPLETED", "the outcome is visible");
    expect(waiting.settled, "the dequeue stopped waiting for work").toBe(false);
    const next = await client.task.trigger.mutate({ task });
    expect((await waiting.value()).map((run) => run.id)).toEqual([next.id]);
  });

  it("accepts outcomes only from the worker holding the lease", async () => {
    const task = "exchange-lease";
    await client.worker.register.mutate({ workerId: "owner", tasks: [task] });
    await client.worker.register.mutate({ workerId: "other", tasks: [task] });
    const { id } = await client.task.trigger.mutate({ task });
    const [run] = await client.worker.dequeue.mutate({ workerId: "owner", tasks: [task], max: 1 });
    expect(run!.id).toBe(id);

    const claimed = await client.worker.dequeue.mutate({
      workerId: "other",
      tasks: [task],
      max: 1,
      completed: [{ runId: id }],
    });
    expect(claimed).toEqual([]);
    expect(await status(id)).toBe("EXECUTING");
  });

  it("does not record outcomes for another environment's runs", async () => {
    const task = "exchange-env";
    await client.worker.register.mutate({ workerId: "wz", tasks: [task] });
    const { id } = await client.task.trigger.mutate({ task });
    await client.worker.dequeue.mutate({ workerId: "wz", tasks: [task], max: 1 });

    const other = await salvo.newEnvironment();
    const otherClient = createSalvoClient({ url: salvo.url, apiKey: other.secretKey });
    await otherClient.worker.register.mutate({ workerId: "wz", tasks: [task] });
    await otherClient.worker.dequeue.mutate({ workerId: "wz", tasks: [task], max: 1, completed: [{ runId: id }] });
    expect(await status(id)).toBe("EXECUTING");
  });
});
