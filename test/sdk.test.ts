import { batch, configure, runs, tasks } from "@trigger.dev/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";

// The published @trigger.dev/sdk, unchanged, against Salvo. One file: `configure` is global.
let salvo: TestSalvo;
beforeAll(async () => {
  salvo = await startTestSalvo();
  configure({ baseURL: salvo.url, accessToken: salvo.key });
});
afterAll(() => salvo?.close());

describe("@trigger.dev/sdk 4.8.3", () => {
  it("tasks.batchTrigger → batch.retrieve → runs.retrieve", async () => {
    const handle = await tasks.batchTrigger("send-email", [
      { payload: { to: "a@example.com" } },
      { payload: { to: "b@example.com" }, options: { tags: ["vip"] } },
      { payload: { to: "c@example.com" }, options: { delay: "1h" } },
    ]);
    expect(handle.batchId).toMatch(/^batch_[1-9a-km-z]{21}$/);
    expect(handle.runCount).toBe(3);
    expect(handle.publicAccessToken.split(".")).toHaveLength(3);

    const retrieved = await batch.retrieve(handle.batchId);
    expect(retrieved.id).toBe(handle.batchId);
    expect(retrieved.runCount).toBe(3);
    expect(retrieved.runs).toHaveLength(3);

    const [first, second, third] = await Promise.all(retrieved.runs.map((id) => runs.retrieve(id)));
    expect(first!.payload).toEqual({ to: "a@example.com" });
    expect(first!.status).toBe("QUEUED");
    expect(first!.taskIdentifier).toBe("send-email");
    expect(first!.createdAt).toBeInstanceOf(Date);
    expect(second!.tags).toEqual(["vip"]);
    expect(third!.status).toBe("DELAYED");
    expect(third!.delayedUntil!.getTime()).toBeGreaterThan(Date.now() + 59 * 60_000);
  });

  it("batch.trigger with several tasks keeps item order", async () => {
    const handle = await batch.trigger([
      { id: "task-a", payload: 1 },
      { id: "task-b", payload: "two" },
      { id: "task-a", payload: { three: 3 } },
    ]);
    expect(handle.runCount).toBe(3);
    const { runs: ids } = await batch.retrieve(handle.batchId);
    const retrieved = await Promise.all(ids.map((id) => runs.retrieve(id)));
    expect(retrieved.map((r) => [r.taskIdentifier, r.payload])).toEqual([
      ["task-a", 1],
      ["task-b", "two"],
      ["task-a", { three: 3 }],
    ]);
  });

  it("tasks.trigger creates a run runs.retrieve can read, Dates included", async () => {
    const when = new Date("2026-05-06T07:08:09.010Z");
    const handle = await tasks.trigger("report", { when, n: 7 }, { tags: ["nightly"] });
    expect(handle.id).toMatch(/^run_[1-9a-km-z]{21}$/);
    const run = await runs.retrieve(handle.id);
    expect(run.id).toBe(handle.id);
    expect(run.status).toBe("QUEUED");
    expect(run.tags).toEqual(["nightly"]);
    const payload = run.payload as { when: unknown; n: number };
    expect(payload.n).toBe(7);
    expect(new Date(payload.when as string).toISOString()).toBe(when.toISOString());
  });

  it("an idempotent batch returns the same batch the second time", async () => {
    const items = [{ payload: { n: 1 } }, { payload: { n: 2 } }];
    const first = await tasks.batchTrigger("idem-task", items, { idempotencyKey: "sdk-batch-1" });
    const second = await tasks.batchTrigger("idem-task", items, { idempotencyKey: "sdk-batch-1" });
    expect(second.batchId).toBe(first.batchId);
    const third = await tasks.batchTrigger("idem-task", items, { idempotencyKey: "sdk-batch-2" });
    expect(third.batchId).not.toBe(first.batchId);
    expect((await batch.retrieve(first.batchId)).runs).toHaveLength(2);
  });

  it("a wrong key fails with status 401", async () => {
    configure({ baseURL: salvo.url, accessToken: "tr_dev_thisKeyDoesNotExist00" });
    try {
      const batchError = await tasks.batchTrigger("t", [{ payload: 1 }]).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(batchError).toBeInstanceOf(Error);
      // Batch functions wrap the API error: its cause carries the status.
      expect((batchError as { cause?: { status?: number } }).cause?.status).toBe(401);

      const triggerError = await tasks.trigger("t", 1).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect((triggerError as { status?: number }).status).toBe(401);
      const retrieveError = await runs.retrieve("run_whateverwhateverwhat").then(
        () => undefined,
        (err: unknown) => err,
      );
      expect((retrieveError as { status?: number }).status).toBe(401);
    } finally {
      configure({ baseURL: salvo.url, accessToken: salvo.key });
    }
  });
});
