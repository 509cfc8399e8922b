import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSalvoClient, createWorker } from "../client/index.js";
import { blockedBy, lockHolder, until } from "./support/interleave.js";
import { startTestSalvo, type TestSalvo } from "./support/salvo.js";

/**
 * `createWorker` reports outcomes apart from claiming (docs/ARCHITECTURE.md, "Two request walks"):
 * a report waits for the row locks of its runs' batches, a claim never does, so a worker goes on
 * claiming and executing while a report of its waits. A second connection holds a batch row to
 * make the report wait.
 */
const databaseUrl = process.env.DATABASE_URL;
let salvo: TestSalvo;
let client: ReturnType<typeof createSalvoClient>;
let holder: Awaited<ReturnType<typeof lockHolder>>;
beforeAll(async () => {
  if (!databaseUrl) return;
  salvo = await startTestSalvo();
  client = createSalvoClient({ url: salvo.url, apiKey: salvo.key });
  holder = await lockHolder(databaseUrl);
});
afterAll(async () => {
  await holder?.release().catch(() => {});
  await holder?.close();
  await salvo?.close();
});

describe.skipIf(!databaseUrl)("a worker's claims do not wait for its reports (needs DATABASE_URL)", () => {
  it("claims and executes the next runs while the report of the first waits for its batch row", async () => {
    const task = `apart-${Date.now().toString(36)}`;
    // Claimed oldest first: the first batch's run goes first, and its report will wait.
    const first = await client.batch.trigger.mutate({ items: [{ task, payload: 0 }] });
    const second = await client.batch.trigger.mutate({
      items: Array.from({ length: 5 }, (_, i) => ({ task, payload: i + 1 })),
    });
    await holder.hold("select id from batches where id = $1 for update", [first.batchId]);

    const executed: number[] = [];
    const worker = createWorker({
      url: salvo.url,
      apiKey: salvo.key,
      tasks: { [task]: async (payload: number) => void executed.push(payload) },
      concurrency: 1,
      pollWaitMs: 200,
    });
    try {
      // Every run executes with the first batch's row still held: the report of run 0 is waiting
      // for it (blocked), and nothing else is.
      await until(
        () => executed.length === 6,
        `every run to execute while the batch row is held (executed: ${executed.join(", ") || "none"})`,
      ).catch(async (err) => {
        throw new Error(
          `${err.message}; executed ${executed.join(", ")}, blocked ${await blockedBy(salvo.deps.db, holder.pid)}`,
        );
      });
      // The first batch's run first; the second's in their claim order (same age: by id).
      expect(executed[0]).toBe(0);
      expect([...executed].sort()).toEqual([0, 1, 2, 3, 4, 5]);
      expect(await blockedBy(salvo.deps.db, holder.pid)).toBeGreaterThanOrEqual(1);
      expect((await client.batch.get.query({ batchId: first.batchId })).status).toBe("PENDING");

      await holder.release();
      for (const { batchId } of [first, second]) {
        await until(
          async () => (await client.batch.get.query({ batchId })).status === "COMPLETED",
          `batch ${batchId} to complete once the row is released`,
        );
      }
      // Each run once: the reports that waited were accepted, nothing ran again.
      expect(executed).toHaveLength(6);
    } finally {
      await holder.release().catch(() => {});
      await worker.stop({ graceMs: 5000 });
    }
  });
});
