import { sql } from "kysely";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSalvoClient } from "../client/index.js";
import { createWorker } from "../client/worker.js";
import { reclaimExpiredLeases } from "../server/background-tasks.js";
import { until } from "./support/interleave.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";

/**
 * A claim is identified, not just its run: when attempt 1's lease is lost and the same worker
 * claims the run again as attempt 2, attempt 1's late report must not land on attempt 2, and the
 * worker's bookkeeping of attempt 1 must not end attempt 2's heartbeats.
 */
let salvo: TestSalvo;
let client: ReturnType<typeof createSalvoClient>;
beforeAll(async () => {
  salvo = await startTestSalvo({ SALVO_RETRY_BASE_MS: "0", SALVO_SWEEP_INTERVAL_MS: "50", SALVO_LEASE_MS: "1500" });
  client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
});
afterAll(() => salvo?.close());

const run = (runId: string) =>
  salvo.deps.db
    .selectFrom("runs")
    .select(["status", "attempt", "output"])
    .where("id", "=", runId)
    .executeTakeFirstOrThrow();

/** What the lease sweep does to a worker that stopped heartbeating, forced now: the run goes to its next attempt. */
async function loseLease(runId: string) {
  await until(async () => {
    await sql`update runs set lease_expires_at = now() - interval '1 second' where id = ${runId} and status = 'EXECUTING'`.execute(
      salvo.deps.db,
    );
    await reclaimExpiredLeases.run(salvo.deps);
    return (await run(runId)).status !== "EXECUTING";
  }, `run ${runId} loses its lease`);
}

describe("claims are identified", () => {
  it("refuses a stale attempt's report and heartbeat once the same worker holds the next attempt", async () => {
    const task = "claims-stale";
    await client.worker.register.mutate({ workerId: "w1", tasks: [task] });
    const { runs } = await client.batch.trigger.mutate({ items: [{ task, payload: {}, options: { maxAttempts: 2 } }] });
    const [first] = await client.worker.dequeue.mutate({ workerId: "w1", tasks: [task], max: 1 });
    expect(first).toMatchObject({ id: runs[0], attempt: 1 });
    await loseLease(first!.id);
    await until(async () => (await run(first!.id)).status === "QUEUED", "the run is queued for attempt 2");
    const [second] = await client.worker.dequeue.mutate({ workerId: "w1", tasks: [task], max: 1 });
    expect(second).toMatchObject({ id: first!.id, attempt: 2 });
    expect(second!.claimId).not.toBe(first!.claimId);

    const beat = await client.worker.heartbeat.mutate({
      workerId: "w1",
      claims: [
        { runId: first!.id, claimId: first!.claimId },
        { runId: second!.id, claimId: second!.claimId },
      ],
    });
    expect(beat.lostClaims).toEqual([first!.claimId]);
    const late = await client.worker.fail.mutate({
      workerId: "w1",
      runId: first!.id,
      claimId: first!.claimId,
      error: { name: "Error", message: "late" },
    });
    expect(late.accepted).toBe(false);
    const lateRelease = await client.worker.release.mutate({
      workerId: "w1",
      claims: [{ runId: first!.id, claimId: first!.claimId }],
    });
    expect(lateRelease.released).toBe(0);
    expect(await run(first!.id)).toMatchObject({ status: "EXECUTING", attempt: 2 });

    const done = await client.worker.complete.mutate({
      workerId: "w1",
      runId: second!.id,
      claimId: second!.claimId,
      output: "second",
    });
    expect(done.accepted).toBe(true);
    expect((await client.run.get.query({ runId: first!.id })).output).toBe("second");
  });

  it("the worker keeps heartbeating attempt 2 after attempt 1's handler returns late", async () => {
    const task = "claims-worker";
    let secondStarted!: () => void;
    const started = new Promise<void>((resolve) => (secondStarted = resolve));
    const worker = createWorker({
      url: salvo.url,
      apiKey: salvo.key,
      concurrency: 2,
      pollWaitMs: 200,
      onError: () => {},
      tasks: {
        async [task](_payload: unknown, ctx) {
          if (ctx.run.attempt === 1) {
            // Blocked past its lease; it returns only once attempt 2 runs beside it.
            await started;
            return "attempt-1";
          }
          secondStarted();
          // Several leases long: only heartbeats keep attempt 2's lease.
          await new Promise((r) => setTimeout(r, 4_000));
          return "attempt-2";
        },
      },
    });
    try {
      await worker.ready;
      const { runs } = await client.batch.trigger.mutate({
        items: [{ task, payload: {}, options: { maxAttempts: 2 } }],
      });
      const runId = runs[0]!;
      await until(async () => (await run(runId)).status === "EXECUTING", "attempt 1 runs");
      await loseLease(runId);
      await until(async () => ["COMPLETED", "FAILED"].includes((await run(runId)).status), "the run is final", 15_000);
      const final = await salvo.deps.db
        .selectFrom("runs")
        .select(["status", "attempt", "error"])
        .where("id", "=", runId)
        .executeTakeFirstOrThrow();
      expect(final, JSON.stringify(final.error)).toMatchObject({ status: "COMPLETED", attempt: 2 });
      expect((await client.run.get.query({ runId })).output).toBe("attempt-2");
    } finally {
      await worker.stop({ graceMs: 3_000 });
    }
  });
});
